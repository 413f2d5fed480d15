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


def parse_json(text: str | bytes) -> Any:
    """Parse strict JSON; raise ``JsonInputError`` on anything ambiguous or malformed.

    Bytes must be UTF-8 (``json.loads`` alone would also guess UTF-16 and UTF-32).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError("JSON text is not UTF-8") from None
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except RecursionError:
        raise JsonInputError("JSON nesting is too deep to read") from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc}") from None


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8. Raises ``ValueError`` for what JSON cannot carry."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
