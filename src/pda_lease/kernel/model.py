"""Validation of untrusted JSON-model documents (spec §4.1), with field paths.

Every untrusted input (manifest, trust snapshot, HRC token, holder proof) passes the same two
stages: a bounded data-model walk (types, floats, integer range, string and container limits,
running encoded size) and then a closed schema. Both stop at the first violation, in an order
the spec fixes, so that a second implementation reports the same reason and the same path.
Nothing here raises on bad content: failures are returned as ``Failure`` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import attrs

from pda_lease.kernel.cbor import encode_head

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@attrs.frozen
class Limits:
    """Bounds of spec §9 for one kind of document."""

    max_depth: int
    max_items: int
    max_string_bytes: int
    max_total_bytes: int


MANIFEST_LIMITS = Limits(max_depth=16, max_items=1024, max_string_bytes=4096, max_total_bytes=65536)
SNAPSHOT_LIMITS = Limits(
    max_depth=16, max_items=10000, max_string_bytes=4096, max_total_bytes=1 << 20
)


@attrs.frozen
class Failure:
    """The first violation found: a §5.1 reason name and the field path (§4.1)."""

    reason: str
    path: str


def child_path(parent: str, name: str) -> str:
    """Path of member ``name`` of the object at ``parent`` (spec §4.1)."""
    if _SIMPLE_NAME.fullmatch(name):
        return name if parent == "$" else f"{parent}.{name}"
    quoted = "[" + _json_string(name) + "]"
    return quoted if parent == "$" else parent + quoted


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def _json_string(text: str) -> str:
    # RFC 8785 §3.2.2.2 string serialization: escape '"', '\\' and controls, nothing else.
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20:
            short = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code)
            out.append(short if short else f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not Unicode scalar values
        return None


def _key_order(item: tuple[bytes, str, object]) -> bytes:
    return item[0]


class _Walk:
    __slots__ = ("limits", "total")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def _add(self, size: int, path: str) -> Failure | None:
        self.total += size
        if self.total > self.limits.max_total_bytes:
            return Failure("TOO_LARGE", path)
        return None

    def value(self, value: object, path: str, depth: int) -> Failure | None:
        limits = self.limits
        if depth > limits.max_depth:
            return Failure("TOO_DEEP", path)
        kind = type(value)
        if value is None or kind is bool:
            return self._add(1, path)
        if kind is int:
            assert isinstance(value, int)
            if not INT64_MIN <= value <= INT64_MAX:
                return Failure("INTEGER_OUT_OF_RANGE", path)
            argument = value if value >= 0 else -1 - value
            return self._add(len(encode_head(0, argument)), path)
        if kind is str:
            assert isinstance(value, str)
            raw = _utf8(value)
            if raw is None:
                return Failure("NOT_JSON", path)
            if len(raw) > limits.max_string_bytes:
                return Failure("STRING_TOO_LONG", path)
            return self._add(len(encode_head(3, len(raw))) + len(raw), path)
        if kind is list:
            assert isinstance(value, list)
            if len(value) > limits.max_items:
                return Failure("TOO_MANY_ITEMS", path)
            failure = self._add(len(encode_head(4, len(value))), path)
            for index, item in enumerate(value):
                failure = failure or self.value(item, index_path(path, index), depth + 1)
                if failure:
                    return failure
            return failure
        if kind is dict:
            assert isinstance(value, dict)
            return self._object(value, path, depth)
        if kind is float:
            return Failure("FLOAT_NOT_ALLOWED", path)
        return Failure("NOT_JSON", path)

    def _object(self, value: dict[object, object], path: str, depth: int) -> Failure | None:
        # The member count is judged before the names, so that the work is bounded by the
        # limit and not by the object's size (spec §4.1 step 2).
        if len(value) > self.limits.max_items:
            return Failure("TOO_MANY_ITEMS", path)
        members: list[tuple[bytes, str, object]] = []
        for key, item in value.items():
            raw = _utf8(key) if type(key) is str else None
            if raw is None:
                return Failure("NOT_JSON", path)
            assert isinstance(key, str)
            members.append((encode_head(3, len(raw)) + raw, key, item))
        members.sort(key=_key_order)
        failure = self._add(len(encode_head(5, len(value))), path)
        if failure:
            return failure
        for encoded_key, key, item in members:
            member_path = child_path(path, key)
            if len(key.encode("utf-8")) > self.limits.max_string_bytes:
                return Failure("STRING_TOO_LONG", member_path)
            failure = self._add(len(encoded_key), member_path) or self.value(
                item, member_path, depth + 1
            )
            if failure:
                return failure
        return None


def walk(document: object, limits: Limits) -> Failure | None:
    """Spec §4.1 step 2: the bounded data-model walk. ``None`` when the document passes."""
    return _Walk(limits).value(document, "$", 1)


def sorted_keys(obj: dict[str, object]) -> list[str]:
    """Keys in deterministic order (bytewise order of their CBOR encodings)."""
    return sorted(
        obj, key=lambda key: encode_head(3, len(key.encode("utf-8"))) + key.encode("utf-8")
    )


# ---------------------------------------------------------------------------------- schema

# A field check returns a Failure, or None when the value is acceptable.
Check = Callable[[object, str], "Failure | None"]


@attrs.frozen
class Field:
    name: str
    check: Check


def check_object(
    value: object, path: str, fields: Sequence[Field], after: Check | None = None
) -> Failure | None:
    """Closed object: unknown members first, then each field in schema order (spec §4.1)."""
    if type(value) is not dict:
        return Failure("WRONG_TYPE", path)
    assert isinstance(value, dict)
    names = {field.name for field in fields}
    for key in sorted_keys(value):
        if key not in names:
            return Failure("UNKNOWN_FIELD", child_path(path, key))
    for field in fields:
        member_path = child_path(path, field.name)
        if field.name not in value:
            return Failure("MISSING_FIELD", member_path)
        failure = field.check(value[field.name], member_path)
        if failure:
            return failure
    return after(value, path) if after else None


def text(pattern: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: object, path: str) -> Failure | None:
        if type(value) is not str:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, str)
        return None if compiled.fullmatch(value) else Failure("BAD_VALUE", path)

    return check


def integer(low: int, high: int, bad_reason: str = "BAD_VALUE") -> Check:
    def check(value: object, path: str) -> Failure | None:
        if type(value) is not int:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, int)
        return None if low <= value <= high else Failure(bad_reason, path)

    return check


def boolean(value: object, path: str) -> Failure | None:
    return None if type(value) is bool else Failure("WRONG_TYPE", path)


def one_of(*allowed: str) -> Check:
    def check(value: object, path: str) -> Failure | None:
        if type(value) is not str:
            return Failure("WRONG_TYPE", path)
        return None if value in allowed else Failure("BAD_VALUE", path)

    return check


def any_object(value: object, path: str) -> Failure | None:
    return None if type(value) is dict else Failure("WRONG_TYPE", path)


def nested(fields: Sequence[Field], after: Check | None = None) -> Check:
    def check(value: object, path: str) -> Failure | None:
        return check_object(value, path, fields, after)

    return check


def validate(
    document: object, limits: Limits, fields: Sequence[Field], after: Check | None = None
) -> Failure | None:
    """Spec §4.1 steps 1-4 for one closed document."""
    if type(document) is not dict:
        return Failure("NOT_AN_OBJECT", "$")
    return walk(document, limits) or check_object(document, "$", fields, after)
