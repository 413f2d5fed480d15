"""Strict JSON in, canonical JSON out: the one place the shell turns text into documents.

Reading refuses duplicate object names and the non-standard constants NaN/Infinity, because
their meaning is ambiguous (spec §2.1); floats are read so that the kernel can deny them with a
reason. Writing is canonical: sorted keys, no whitespace, UTF-8, no NaN. The audit log hashes
this form, so the same record always has the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from pda_lease.kernel.errors import PdaLeaseError


class JsonInputError(PdaLeaseError, ValueError):
    """A text is not strict JSON (duplicate names, NaN, bad syntax, or too deeply nested)."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError(f"duplicate JSON object name {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise JsonInputError(f"JSON constant {name} is not allowed")


# The largest JSON text parse_json reads: the CLI's input limit. Every document the project
# reads is far smaller (a manifest encodes to at most 64 KiB, an audit line is at most 8 MiB,
# a receipt at most 16 MiB), and a larger text is refused before it is decoded or parsed.
MAX_JSON_BYTES = 16 << 20


def parse_json(text: str | bytes, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse strict JSON; raise ``JsonInputError`` on anything ambiguous or malformed.

    Bytes must be UTF-8 (``json.loads`` alone would also guess UTF-16 and UTF-32). A text of
    more than ``max_bytes`` bytes (or characters: each is at least one byte) is refused
    before any work that grows with it.
    """
    if len(text) > max_bytes:
        raise JsonInputError(f"JSON text is larger than {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError("JSON text is not UTF-8") from None
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except JsonInputError:
        raise  # a duplicate name or a constant, refused by the hooks above
    except RecursionError:
        raise JsonInputError("JSON nesting is too deep to read") from None
    except ValueError as exc:
        # JSONDecodeError, and the ValueError Python raises for an integer literal of more
        # than sys.get_int_max_str_digits() digits: both mean "not JSON we can read".
        raise JsonInputError(f"not valid JSON: {exc}") from None


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8. Raises ``ValueError`` for what JSON cannot carry."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
