"""Validation of untrusted JSON-model documents (spec §4.1), with field paths.

Every untrusted input (manifest, trust snapshot, HRC token, holder proof) passes the same two
stages: a bounded data-model walk (types, floats, integer range, string and container limits,
running encoded size) and then a closed schema. Both stop at the first violation, in an order
the spec fixes, so that a second implementation reports the same reason and the same path.
Nothing here raises on bad content: failures are returned as ``Failure`` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import attrs

from pda_lease.kernel.cbor import SHORT_HEADS as _SHORT_HEADS
from pda_lease.kernel.cbor import encode_head

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A code point that is a surrogate: what makes a str not valid Unicode (not encodable as UTF-8).
_SURROGATE = re.compile("[\ud800-\udfff]")


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


class _Violation(Exception):
    """The first violation, raised from where it is found and given its path on the way out.

    Field paths are only ever needed for a failure, so the walk does not build them: each
    container adds its own step (member name or index) as the exception passes through it,
    and ``walk_encode`` assembles the path once. A document that passes pays for no path.
    """

    __slots__ = ("reason", "steps")

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps: list[str | int] = []


def _path_of(steps: list[str | int]) -> str:
    path = "$"
    for step in reversed(steps):
        path = index_path(path, step) if type(step) is int else child_path(path, str(step))
    return path


class _Encoder:
    """Spec §4.1 steps 2 and 3 fused with ``det(document)`` (spec §2.3): one depth-first pass.

    The walk visits members in deterministic order, which is also the order of the encoding,
    so the running size of step 3 is exactly the length of the output so far: the limit is
    judged on the bytes as they are produced, at the same points and with the same paths as
    the spec's walk, and a document that passes leaves its encoding behind (its digest input).
    Text, the commonest value, is handled in line by ``_text``; everything else by ``value``.
    """

    __slots__ = ("max_depth", "max_items", "max_string_bytes", "max_total_bytes", "out")

    def __init__(self, limits: Limits) -> None:
        self.max_depth = limits.max_depth
        self.max_items = limits.max_items
        self.max_string_bytes = limits.max_string_bytes
        self.max_total_bytes = limits.max_total_bytes
        self.out = bytearray()

    def _text(self, value: str) -> None:
        if len(value) > self.max_string_bytes:
            # Longer than the limit whatever its encoding (a character is at least one byte):
            # judged without encoding it, so a huge string costs no memory. Not valid Unicode
            # still comes first (spec §4.1 step 2).
            raise _Violation("NOT_JSON" if _SURROGATE.search(value) else "STRING_TOO_LONG")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates are not Unicode scalar values
            raise _Violation("NOT_JSON") from None
        size = len(raw)
        if size > self.max_string_bytes:
            raise _Violation("STRING_TOO_LONG")
        out = self.out
        out += _SHORT_HEADS[0x60 | size] if size < 24 else encode_head(3, size)
        out += raw
        if len(out) > self.max_total_bytes:
            raise _Violation("TOO_LARGE")

    def value(self, value: object, depth: int) -> None:
        if depth > self.max_depth:
            raise _Violation("TOO_DEEP")
        out = self.out
        kind = type(value)
        if kind is str:
            assert isinstance(value, str)
            self._text(value)
            return
        if kind is dict:
            assert isinstance(value, dict)
            self._object(value, depth)
            return  # _object judges the size after each member itself
        if kind is int:
            assert isinstance(value, int)
            if 0 <= value <= INT64_MAX:
                out += _SHORT_HEADS[value] if value < 24 else encode_head(0, value)
            elif INT64_MIN <= value < 0:
                out += encode_head(1, -1 - value)
            else:
                raise _Violation("INTEGER_OUT_OF_RANGE")
        elif value is None or kind is bool:
            out.append(0xF6 if value is None else 0xF5 if value else 0xF4)
        elif kind is list:
            assert isinstance(value, list)
            if len(value) > self.max_items:
                raise _Violation("TOO_MANY_ITEMS")
            out += encode_head(4, len(value))
            if len(out) > self.max_total_bytes:
                raise _Violation("TOO_LARGE")
            inner = depth + 1
            for index, item in enumerate(value):
                try:
                    if type(item) is str and inner <= self.max_depth:
                        self._text(item)
                    else:
                        self.value(item, inner)
                except _Violation as violation:
                    violation.steps.append(index)
                    raise
            return
        elif kind is float:
            raise _Violation("FLOAT_NOT_ALLOWED")
        else:
            raise _Violation("NOT_JSON")
        if len(out) > self.max_total_bytes:
            raise _Violation("TOO_LARGE")

    def _object(self, value: dict[object, object], depth: int) -> None:
        # The member count is judged before the names, so that the work is bounded by the
        # limit and not by the object's size (spec §4.1 step 2).
        if len(value) > self.max_items:
            raise _Violation("TOO_MANY_ITEMS")
        max_key = self.max_string_bytes
        members: list[tuple[bytes, str, object]] = []
        overlong = False  # a name longer than the limit: refused after the other members
        for key, item in value.items():
            if type(key) is not str:
                raise _Violation("NOT_JSON")
            if len(key) > max_key:  # too long whatever its encoding: never encoded
                if _SURROGATE.search(key):
                    raise _Violation("NOT_JSON")
                overlong = True
                continue
            try:
                raw = key.encode("utf-8")
            except UnicodeEncodeError:
                raise _Violation("NOT_JSON") from None
            size = len(raw)
            if size > max_key:
                overlong = True
                continue
            members.append(
                (
                    (_SHORT_HEADS[0x60 | size] if size < 24 else encode_head(3, size)) + raw,
                    key,
                    item,
                )
            )
        # Encoded text keys are distinct, so the sort never compares past the first element.
        members.sort()
        out = self.out
        out += encode_head(5, len(value))
        max_total = self.max_total_bytes
        if len(out) > max_total:
            raise _Violation("TOO_LARGE")
        inner = depth + 1
        text_ok = inner <= self.max_depth
        for encoded_key, key, item in members:
            try:
                out += encoded_key
                if len(out) > max_total:
                    raise _Violation("TOO_LARGE")
                if type(item) is str and text_ok:
                    self._text(item)
                else:
                    self.value(item, inner)
            except _Violation as violation:
                violation.steps.append(key)
                raise
        if overlong:
            # Over-long names sort after every other (a longer name has a greater head), so
            # this is where the walk meets the first of them; refused at the object's path,
            # which never quotes such a name (spec §4.1 step 3).
            raise _Violation("STRING_TOO_LONG")


def walk_encode(document: object, limits: Limits) -> Failure | bytes:
    """Spec §4.1 steps 2-3 (the bounded data-model walk): the first violation, or ``det``.

    On success the result is the deterministic encoding of ``document`` (spec §2.3), the
    same bytes as ``cbor.encode(document)``, produced by the walk itself.
    """
    encoder = _Encoder(limits)
    try:
        encoder.value(document, 1)
    except _Violation as violation:
        return Failure(violation.reason, _path_of(violation.steps))
    return bytes(encoder.out)


def sorted_keys(obj: Iterable[str]) -> list[str]:
    """Keys in deterministic order (bytewise order of their CBOR encodings)."""
    return sorted(
        obj, key=lambda key: encode_head(3, len(key.encode("utf-8"))) + key.encode("utf-8")
    )


# ---------------------------------------------------------------------------------- schema

# A field check returns a Failure, or None when the value is acceptable.
Check = Callable[[object, str], "Failure | None"]


class Field:
    """One member of a closed object: its name and the check of its value."""

    __slots__ = ("check", "name", "simple")

    def __init__(self, name: str, check: Check) -> None:
        self.name = name
        self.check = check
        # Whether the member's path is the plain ``parent.name`` form (spec §4.1), decided
        # once here instead of on every check.
        self.simple = _SIMPLE_NAME.fullmatch(name) is not None

    def path_in(self, parent: str) -> str:
        if not self.simple:
            return child_path(parent, self.name)
        return self.name if parent == "$" else parent + "." + self.name


def _first_unknown(value: dict[str, object], names: frozenset[str]) -> str:
    return next(key for key in sorted_keys(value) if key not in names)


def check_object(
    value: object,
    path: str,
    fields: Sequence[Field],
    after: Check | None = None,
    names: frozenset[str] | None = None,
) -> Failure | None:
    """Closed object: unknown members first, then each field in schema order (spec §4.1)."""
    if type(value) is not dict:
        return Failure("WRONG_TYPE", path)
    assert isinstance(value, dict)
    if names is None:
        names = frozenset(field.name for field in fields)
    if not value.keys() <= names:
        # Only a refused object pays for the deterministic order that names the first one.
        return Failure("UNKNOWN_FIELD", child_path(path, _first_unknown(value, names)))
    for field in fields:
        if field.name not in value:
            return Failure("MISSING_FIELD", field.path_in(path))
        failure = field.check(value[field.name], field.path_in(path))
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


def array_of(item: Check, max_items: int) -> Check:
    """An array of at most ``max_items`` items, each passing ``item`` (judged in order)."""

    def check(value: object, path: str) -> Failure | None:
        if type(value) is not list:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, list)
        if len(value) > max_items:
            return Failure("TOO_MANY_ITEMS", path)
        for index, element in enumerate(value):
            failure = item(element, index_path(path, index))
            if failure:
                return failure
        return None

    return check


def object_of(key_check: Check, value_check: Check, non_empty: bool = False) -> Check:
    """An object whose member names pass ``key_check`` and values ``value_check``, judged in
    deterministic member order; ``non_empty`` refuses ``{}`` (``BAD_VALUE``)."""

    def check(value: object, path: str) -> Failure | None:
        if type(value) is not dict:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, dict)
        if non_empty and not value:
            return Failure("BAD_VALUE", path)
        for key in sorted_keys(value):
            member = child_path(path, key)
            failure = key_check(key, member) or value_check(value[key], member)
            if failure:
                return failure
        return None

    return check


def nested(fields: Sequence[Field], after: Check | None = None) -> Check:
    names = frozenset(field.name for field in fields)

    def check(value: object, path: str) -> Failure | None:
        return check_object(value, path, fields, after, names)

    return check


def validate_encoded(
    document: object, limits: Limits, fields: Sequence[Field], after: Check | None = None
) -> Failure | bytes:
    """Spec §4.1 steps 1-4 for one closed document: the first violation, or ``det(document)``."""
    if type(document) is not dict:
        return Failure("NOT_AN_OBJECT", "$")
    encoded = walk_encode(document, limits)
    if isinstance(encoded, Failure):
        return encoded
    return check_object(document, "$", fields, after) or encoded


def validate(
    document: object, limits: Limits, fields: Sequence[Field], after: Check | None = None
) -> Failure | None:
    """Spec §4.1 steps 1-4 for one closed document; ``None`` when it passes."""
    result = validate_encoded(document, limits, fields, after)
    return result if isinstance(result, Failure) else None
