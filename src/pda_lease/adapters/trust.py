"""The trust source: where the current Trust Matrix snapshot comes from (spec §3.2, §12.2).

The manager asks for the current snapshot once per operation. ``FileTrustSource`` reads a JSON
file (``trust.json`` in the state directory by default), which the Trust Matrix or
``pda-lease trust apply`` replaces atomically; a missing, unreadable or invalid file is a
``StateError(TRUST_UNAVAILABLE)``, never an empty matrix, so nothing is granted or authorized
without a valid snapshot. The file is read on every call; only its parsing is cached, against
the exact bytes read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.files import replace_durably
from pda_lease.adapters.jsonio import JsonInputError, canonical_json, parse_json
from pda_lease.kernel.inputs import TrustSnapshot, parse_trust_snapshot
from pda_lease.kernel.model import Failure

MAX_TRUST_FILE_BYTES = 4 << 20


def snapshot_document(snapshot: TrustSnapshot) -> dict[str, object]:
    """The JSON document of a parsed snapshot (its digest is ``snapshot.digest``)."""
    return {
        "snapshot_version": 1,
        "sequence": snapshot.sequence,
        "scores": dict(snapshot.scores),
    }


@runtime_checkable
class TrustSource(Protocol):
    """Supplies the current snapshot; ``publish`` makes a new one current, durably."""

    def current(self) -> TrustSnapshot: ...

    def publish(self, snapshot: TrustSnapshot) -> None: ...


def _unavailable(detail: str) -> StateError:
    return StateError(StateFailure.TRUST_UNAVAILABLE, detail)


def parse_snapshot_text(text: bytes, origin: str) -> TrustSnapshot:
    """A snapshot from JSON text, or ``StateError(TRUST_UNAVAILABLE)`` saying what is wrong."""
    try:
        document = parse_json(text)
    except JsonInputError as exc:
        raise _unavailable(f"{origin}: {exc}") from None
    parsed = parse_trust_snapshot(document)
    if isinstance(parsed, Failure):
        raise _unavailable(f"{origin} is not a valid snapshot at {parsed.path}: {parsed.reason}")
    return parsed


class FileTrustSource:
    """A snapshot kept in one JSON file, replaced atomically by ``publish``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._cached: tuple[bytes, TrustSnapshot] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> TrustSnapshot:
        try:
            with open(self._path, "rb") as handle:
                text = handle.read(MAX_TRUST_FILE_BYTES + 1)
        except FileNotFoundError:
            raise _unavailable(f"no trust snapshot at {self._path}") from None
        except OSError as exc:
            raise _unavailable(f"cannot read {self._path}: {exc.strerror}") from None
        if len(text) > MAX_TRUST_FILE_BYTES:
            raise _unavailable(f"{self._path} is larger than {MAX_TRUST_FILE_BYTES} bytes")
        # The cache is keyed by the file's exact bytes, never by its metadata: file systems
        # reuse inodes and keep coarse timestamps, so two quick replacements can look alike.
        if self._cached is not None and self._cached[0] == text:
            return self._cached[1]
        snapshot = parse_snapshot_text(text, str(self._path))
        self._cached = (text, snapshot)
        return snapshot

    def publish(self, snapshot: TrustSnapshot) -> None:
        """Write to a temporary file, fsync it, rename it over the old one, fsync the folder."""
        text = canonical_json(snapshot_document(snapshot)) + b"\n"
        try:
            replace_durably(self._path, text)
        except OSError as exc:
            raise _unavailable(f"cannot write {self._path}: {exc.strerror}") from None
        self._cached = None


class MemoryTrustSource:
    """An in-memory trust source for tests; ``available = False`` simulates an outage."""

    def __init__(self, snapshot: object | None = None) -> None:
        self._snapshot: TrustSnapshot | None = None
        self.available = True
        if snapshot is not None:
            parsed = parse_trust_snapshot(snapshot)
            if isinstance(parsed, Failure):
                raise ValueError(f"not a valid snapshot at {parsed.path}: {parsed.reason}")
            self._snapshot = parsed

    def current(self) -> TrustSnapshot:
        if not self.available:
            raise _unavailable("the in-memory trust source is switched off")
        if self._snapshot is None:
            raise _unavailable("no trust snapshot has been published")
        return self._snapshot

    def publish(self, snapshot: TrustSnapshot) -> None:
        if not self.available:
            raise _unavailable("the in-memory trust source is switched off")
        self._snapshot = snapshot
