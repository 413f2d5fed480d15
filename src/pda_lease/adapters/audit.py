"""The audit log: append-only JSONL, one canonical record per event, hash-chained (spec §12.3).

Each line is the canonical JSON (sorted keys, no whitespace, UTF-8) of a record holding the
event's own members plus ``v`` (format version 1), ``seq`` (0, 1, 2, ...), ``prev_hash`` (the
previous entry's hash; for the first entry the genesis hash, SHA-256 of
``PDA-LEASE-AUDIT-GENESIS-v1``) and ``entry_hash``: SHA-256 over the canonical JSON of the record
without ``entry_hash``. The first entry of every log is a ``log_created`` event with a random
log id, so two logs never share a chain.

``JsonlAuditLog.append`` holds an exclusive ``flock`` on the file while it catches up with what
other processes appended, writes its lines with one ``write`` and ``fdatasync``\\ s them: when it
returns, the entries are durable and no other process's lines are interleaved with them. A line
without its final newline can only be the tail of a writer that died mid-append; it is moved to
the quarantine file and the quarantine itself is recorded as an entry, so nothing is silently
dropped. Any other damage (an edited, reordered or missing line) is a ``StateError``: the log
refuses further appends and the manager fails closed. ``verify_audit_file`` checks a whole log
and names the first bad line.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.files import fsync_directory, write_all
from pda_lease.adapters.jsonio import JsonInputError, canonical_json, parse_json
from pda_lease.adapters.store import AuditHead

AUDIT_FORMAT_VERSION = 1
GENESIS_HASH = hashlib.sha256(b"PDA-LEASE-AUDIT-GENESIS-v1").digest()
RESERVED_MEMBERS = frozenset({"v", "seq", "prev_hash", "entry_hash"})
MAX_LINE_BYTES = 8 << 20
_READ_CHUNK = 1 << 20


@attrs.frozen
class AuditEntry:
    """One verified entry. ``offset`` is the byte offset just after its line."""

    seq: int
    prev_hash: bytes
    entry_hash: bytes
    record: Mapping[str, object] = attrs.field(eq=False, repr=False)
    offset: int
    leaf_hash: bytes = attrs.field(repr=False)  # RFC 9162 leaf hash of the line (§12.9)

    @property
    def event(self) -> str:
        return str(self.record["event"])

    @property
    def head(self) -> AuditHead:
        return AuditHead(self.seq, self.entry_hash, self.offset)


@attrs.frozen
class VerifyReport:
    """The result of checking a whole log: ``ok``, or the first bad line (1-based) and why."""

    ok: bool
    entries: int
    head: AuditHead | None
    first_bad_line: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": None if self.head is None else self.head.seq,
            "head_hash": None if self.head is None else self.head.entry_hash.hex(),
            "first_bad_line": self.first_bad_line,
            "problem": self.problem,
        }


class AuditProblem(Exception):
    """A line that is not the next entry of the chain (internal; becomes a report or error)."""

    def __init__(self, line_number: int, problem: str) -> None:
        super().__init__(f"line {line_number}: {problem}")
        self.line_number = line_number
        self.problem = problem


def merkle_leaf(line: bytes) -> bytes:
    """RFC 9162 leaf hash of an audit line given without its newline: SHA-256(0x00 || line)."""
    return hashlib.sha256(b"\x00" + line).digest()


def entry_hash_of(record: Mapping[str, object]) -> bytes:
    """SHA-256 of the canonical JSON of a record without its ``entry_hash`` member."""
    body = {key: value for key, value in record.items() if key != "entry_hash"}
    return hashlib.sha256(canonical_json(body)).digest()


def seal(seq: int, prev_hash: bytes, body: Mapping[str, object]) -> tuple[bytes, dict[str, object]]:
    """The line (with its newline) and the full record of ``body`` as entry ``seq``."""
    if type(body.get("event")) is not str:
        raise ValueError("an audit record needs a string 'event'")
    clash = RESERVED_MEMBERS & set(body)
    if clash:
        raise ValueError(f"audit record members {sorted(clash)} are reserved")
    hashed: dict[str, object] = dict(body)
    hashed.update(v=AUDIT_FORMAT_VERSION, seq=seq, prev_hash=prev_hash.hex())
    hashed_json = canonical_json(hashed)
    entry_hash = hashlib.sha256(hashed_json).hexdigest()
    record = {**hashed, "entry_hash": entry_hash}
    # The line is the hashed members' canonical form with the hash inserted in its place: the
    # record is serialized once, not once to hash it and again to write it.
    line = canonical_with_member(hashed, hashed_json, "entry_hash", entry_hash) + b"\n"
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"audit record is larger than {MAX_LINE_BYTES} bytes")
    return line, record


def canonical_with_member(
    body: Mapping[str, object], body_json: bytes, name: str, value: str
) -> bytes:
    """``canonical_json(body | {name: value})``, built from ``body_json = canonical_json(body)``.

    Canonical JSON serializes each member on its own, in sorted key order, so adding one
    member only inserts its text after the members whose names sort before it: those are
    re-serialized (usually one small member), the rest of ``body_json`` is reused as is.
    """
    before = {key: item for key, item in body.items() if key < name}
    head = canonical_json(before)[:-1]  # "{" and the members before the new one
    member = canonical_json({name: value})[1:-1]
    # What follows: "}" alone, or the members that sort after the new one (starting with a
    # "," when some member sorts before it).
    tail = body_json[len(head) :]
    if before:
        return head + b"," + member + tail
    return head + member + (tail if tail == b"}" else b"," + tail)


def _check_canonical_line(line: bytes, seq: int, prev_hash: bytes) -> tuple[dict[str, Any], bytes]:
    """The record and entry hash of a line that passes every check of ``check_line``.

    The common case, a good line, costs one parse by the C JSON reader and one canonical
    serialization (of the record without its hash, which is hashed and then completed into
    the line's expected bytes). Any failure raises ``ValueError`` and ``check_line`` judges the
    line again on its strict path, which names the problem: the bytes are compared whole, so
    nothing the strict reader refuses (duplicate names, NaN, non-UTF-8) can pass here.
    """
    record = json.loads(line.decode("utf-8"))
    if type(record) is not dict:
        raise ValueError("not an object")
    version = record.get("v")
    if type(version) is not int or version != AUDIT_FORMAT_VERSION:
        raise ValueError("version")
    if type(record.get("event")) is not str or type(record.get("seq")) is not int:
        raise ValueError("members")
    if record["seq"] != seq or record.get("prev_hash") != prev_hash.hex():
        raise ValueError("position")
    stated = record.get("entry_hash")
    if type(stated) is not str:
        raise ValueError("entry hash")
    body = {key: item for key, item in record.items() if key != "entry_hash"}
    body_json = canonical_json(body)
    computed = hashlib.sha256(body_json).digest()
    if computed.hex() != stated:
        raise ValueError("entry hash")
    if canonical_with_member(body, body_json, "entry_hash", stated) != line:
        raise ValueError("not canonical")
    return record, computed


def check_line(line: bytes, seq: int, prev_hash: bytes, offset: int) -> AuditEntry:
    """Parse and check one line (without its newline) as entry ``seq``; raise AuditProblem."""
    number = seq + 1
    # A line and its newline fit in MAX_LINE_BYTES (as seal and the readers require); judged
    # before any parsing, so a huge line costs nothing.
    if len(line) >= MAX_LINE_BYTES:
        raise AuditProblem(number, f"line is longer than {MAX_LINE_BYTES} bytes")
    try:
        record, computed = _check_canonical_line(line, seq, prev_hash)
    except (ValueError, RecursionError):
        pass
    else:
        return AuditEntry(seq, prev_hash, computed, record, offset, merkle_leaf(line))
    try:
        record = parse_json(line)
    except JsonInputError as exc:
        raise AuditProblem(number, f"not a JSON record ({exc})") from None
    if type(record) is not dict:
        raise AuditProblem(number, "not a JSON object")
    if record.get("v") != AUDIT_FORMAT_VERSION or type(record.get("v")) is not int:
        raise AuditProblem(number, "unsupported or missing format version 'v'")
    if type(record.get("event")) is not str:
        raise AuditProblem(number, "missing 'event'")
    if type(record.get("seq")) is not int or record["seq"] != seq:
        raise AuditProblem(number, f"seq is {record.get('seq')!r}, expected {seq}")
    if record.get("prev_hash") != prev_hash.hex():
        raise AuditProblem(number, "prev_hash does not match the previous entry (chain broken)")
    stated = record.get("entry_hash")
    try:
        computed = entry_hash_of(record)
    except ValueError:
        raise AuditProblem(number, "record cannot be canonicalized") from None
    if stated != computed.hex():
        raise AuditProblem(number, "entry_hash does not match the record (edited line)")
    if canonical_json(record) != line:
        raise AuditProblem(number, "line is not in canonical form")
    return AuditEntry(seq, prev_hash, computed, record, offset, merkle_leaf(line))


def _iter_lines(
    handle: int, start: int, end: int | None = None
) -> Iterator[tuple[bytes, int, bool]]:
    """Yield (line without newline, offset after it, complete) from ``start`` to ``end``/EOF.

    Reads 1 MiB at a time and slices each line out of the buffer by index, so the buffer is
    copied once per chunk, not once per line.
    """
    offset = start  # file offset of buffer[0]
    buffer = b""
    while True:
        want = _READ_CHUNK if end is None else min(_READ_CHUNK, end - offset - len(buffer))
        chunk = os.pread(handle, want, offset + len(buffer)) if want > 0 else b""
        if not chunk:
            break
        buffer += chunk
        position = 0
        while True:
            cut = buffer.find(b"\n", position)
            if cut < 0:
                break
            yield buffer[position:cut], offset + cut + 1, True
            position = cut + 1
        offset += position
        buffer = buffer[position:]
        if len(buffer) > MAX_LINE_BYTES:
            yield buffer, offset + len(buffer), False
            return
    if buffer:
        yield buffer, offset + len(buffer), False


def _stable_size(handle: int) -> int:
    """The log's size between appends: read under a shared lock, which is released at once.

    Appends write whole lines under the exclusive lock, so this size ends on a line boundary
    of a finished append; reading up to it needs no lock, and writers are never held up by a
    long verification.
    """
    with contextlib.suppress(OSError):
        fcntl.flock(handle, fcntl.LOCK_SH)
    try:
        return os.fstat(handle).st_size
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)


def _walk(handle: int, size: int) -> Iterator[tuple[AuditEntry, bytes]]:
    """Each entry from the genesis up to byte ``size``, chain-checked, with its line.

    Raises ``AuditProblem`` at the first line that is not the next entry of the chain.
    """
    seq, prev = 0, GENESIS_HASH
    for line, offset, complete in _iter_lines(handle, 0, size):
        if not complete:
            raise AuditProblem(seq + 1, "incomplete last line (torn write)")
        entry = check_line(line, seq, prev, offset)
        yield entry, line
        seq, prev = seq + 1, entry.entry_hash


def verify_audit_file(
    path: str | os.PathLike[str], committed: AuditHead | None = None
) -> VerifyReport:
    """Check a whole log from the genesis; name the first bad line. Never raises for content.

    With ``committed`` (the lease store's audit head), also check that the log still holds
    that entry, unchanged: a log cut short or rewritten after it is reported as broken.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return VerifyReport(False, 0, None, None, f"cannot read {path}: {exc.strerror}")
    try:
        seq, head = 0, None
        try:
            for entry, _ in _walk(handle, _stable_size(handle)):
                if seq == 0 and entry.event != "log_created":
                    raise AuditProblem(1, "the first entry is not 'log_created'")
                if (
                    committed is not None
                    and entry.seq == committed.seq
                    and (
                        entry.entry_hash != committed.entry_hash or entry.offset != committed.offset
                    )
                ):
                    raise AuditProblem(seq + 1, "not the entry the lease store committed")
                seq, head = seq + 1, entry.head
        except AuditProblem as problem:
            return VerifyReport(False, seq, head, problem.line_number, problem.problem)
        except OSError as exc:
            return VerifyReport(False, seq, head, seq + 1, f"read error: {exc.strerror}")
        if head is None:
            return VerifyReport(False, 0, None, None, "the log is empty (no 'log_created' entry)")
        if committed is not None and head.seq < committed.seq:
            return VerifyReport(
                False,
                seq,
                head,
                seq + 1,
                f"the log ends before entry {committed.seq}, which the lease store committed",
            )
        return VerifyReport(True, seq, head)
    finally:
        os.close(handle)


def read_verified_entries(
    path: str | os.PathLike[str], limit: int | None = None
) -> Iterator[tuple[AuditEntry, bytes]]:
    """The log's first ``limit`` entries (all if None) with their lines, chain verified.

    Any break, a torn line among them, or fewer entries than ``limit`` is a
    ``StateError(AUDIT_UNAVAILABLE)`` naming the line.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _unavailable(f"cannot read {path}: {exc.strerror}") from None
    count = 0
    try:
        walker = _walk(handle, _stable_size(handle))
        # Stop before reading past the limit: what follows it is not this caller's concern.
        while limit is None or count < limit:
            step = next(walker, None)
            if step is None:
                break
            yield step
            count += 1
    except AuditProblem as problem:
        raise _unavailable(f"{path}: line {problem.line_number}: {problem.problem}") from None
    except OSError as exc:
        raise _unavailable(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(handle)
    if limit is not None and count < limit:
        raise _unavailable(f"{path} holds {count} entries, fewer than {limit}")


def read_leaf_hashes(path: str | os.PathLike[str], limit: int | None = None) -> list[bytes]:
    """RFC 9162 leaf hashes of the log's first ``limit`` entries (all if None), in order.

    Each line (without its newline) is one leaf; errors as ``read_verified_entries``.
    """
    return [entry.leaf_hash for entry, _ in read_verified_entries(path, limit)]


@runtime_checkable
class AuditLog(Protocol):
    """A durable, hash-chained, append-only log. Failures raise ``StateError(AUDIT_...)``."""

    def recover(self, committed: AuditHead | None) -> list[AuditEntry]: ...

    def pending(self, committed: AuditHead | None) -> list[AuditEntry]: ...

    def leaf_hashes(self, committed: AuditHead | None, last_seq: int) -> list[bytes]: ...

    def append(self, bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]: ...

    def head(self) -> AuditHead: ...

    def verify(self) -> VerifyReport: ...

    def close(self) -> None: ...


def _unavailable(detail: str) -> StateError:
    return StateError(StateFailure.AUDIT_UNAVAILABLE, detail)


def _seal_batch(
    seq: int,
    prev: bytes,
    bodies: Sequence[Mapping[str, object]],
    advance: Callable[[int, bytes], int],
    offset: int,
) -> tuple[list[bytes], list[AuditEntry]]:
    """Seal ``bodies`` as the entries after ``seq`` (hash ``prev``): their lines and entries.

    ``advance(offset, line)`` is the position after a line (bytes in a file, lines in the
    fake). Raises ``StateError`` before anything is written if a body cannot be recorded.
    """
    lines: list[bytes] = []
    entries: list[AuditEntry] = []
    for body in bodies:
        try:
            line, record = seal(seq + 1, prev, body)
        except ValueError as exc:
            raise _unavailable(f"cannot record event: {exc}") from None
        seq += 1
        offset = advance(offset, line)
        entry_hash = bytes.fromhex(str(record["entry_hash"]))
        lines.append(line)
        entries.append(AuditEntry(seq, prev, entry_hash, record, offset, merkle_leaf(line[:-1])))
        prev = entry_hash
    return lines, entries


def _log_created() -> dict[str, object]:
    return {"event": "log_created", "log_id": secrets.token_hex(16)}


class JsonlAuditLog:
    """The durable audit log: one JSONL file, ``flock``-ed appends, ``fdatasync`` per append."""

    def __init__(
        self, path: str | os.PathLike[str], quarantine_path: str | os.PathLike[str] | None = None
    ) -> None:
        self._path = Path(path)
        self._quarantine = Path(quarantine_path or self._path.with_suffix(".quarantine"))
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._seq = -1  # the last entry this instance has verified
        self._prev = GENESIS_HASH
        self._offset = 0
        self._recovered = False
        self._leaves: dict[int, bytes] = {}  # recent Merkle leaves by seq (§12.9)
        try:
            created = not self._path.exists()
            self._fd = os.open(
                self._path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
            )
            if created:
                os.fsync(self._fd)
                fsync_directory(self._path.parent)
        except OSError as exc:
            raise _unavailable(f"cannot open {self._path}: {exc.strerror}") from None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def quarantine_path(self) -> Path:
        return self._quarantine

    # ----------------------------------------------------------------------------- locking

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            if self._broken is not None:
                raise _unavailable(self._broken)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except (OSError, ValueError) as exc:
                raise _unavailable(f"cannot lock {self._path}: {exc}") from None
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _fail(self, detail: str) -> StateError:
        """Refuse every later append: after a failed write or fsync the file is in doubt."""
        self._broken = f"{self._path}: {detail}; reopen the state directory to recover"
        return _unavailable(self._broken)

    # ----------------------------------------------------------------------------- reading

    def _position_at(self, committed: AuditHead) -> None:
        """Trust the prefix up to the store's committed head, after checking that line."""
        size = os.fstat(self._fd).st_size
        if committed.offset > size:
            raise _unavailable(
                f"{self._path} ends at byte {size} but the lease store committed entry "
                f"{committed.seq} ending at byte {committed.offset}: acknowledged entries are "
                "missing"
            )
        start = max(0, committed.offset - MAX_LINE_BYTES - 1)
        window = os.pread(self._fd, committed.offset - start, start)
        if not window.endswith(b"\n"):
            raise _unavailable(f"{self._path}: no line ends at the committed head's offset")
        cut = window.rfind(b"\n", 0, len(window) - 1)
        line = window[cut + 1 : -1]
        try:
            record = parse_json(line)
        except JsonInputError:
            raise _unavailable(f"{self._path}: the committed head entry is unreadable") from None
        if (
            type(record) is not dict
            or record.get("seq") != committed.seq
            or record.get("entry_hash") != committed.entry_hash.hex()
            or entry_hash_of(record) != committed.entry_hash
        ):
            raise _unavailable(
                f"{self._path}: line {committed.seq + 1} is not the entry the lease store "
                "committed (the log was edited or replaced)"
            )
        self._seq, self._prev, self._offset = committed.seq, committed.entry_hash, committed.offset

    def _catch_up(self, committed_offset: int) -> list[AuditEntry]:
        """Verify what was appended since this instance last looked; quarantine a torn tail."""
        size = os.fstat(self._fd).st_size
        if size < self._offset:
            raise self._fail(f"the log shrank from {self._offset} to {size} bytes")
        entries: list[AuditEntry] = []
        if size == self._offset:
            return entries
        for line, offset, complete in _iter_lines(self._fd, self._offset):
            if not complete:
                if self._offset < committed_offset:
                    raise self._fail(
                        f"line {self._seq + 2} is damaged but the lease store committed it"
                    )
                self._quarantine_tail(self._offset, size)
                break
            try:
                entry = check_line(line, self._seq + 1, self._prev, offset)
            except AuditProblem as problem:
                raise self._fail(f"line {problem.line_number}: {problem.problem}") from None
            entries.append(entry)
            self._seq, self._prev, self._offset = entry.seq, entry.entry_hash, entry.offset
        self._remember(entries)
        return entries

    def _quarantine_tail(self, start: int, end: int) -> None:
        torn = os.pread(self._fd, end - start, start)
        note = {
            "offset": start,
            "length": len(torn),
            "sha256": hashlib.sha256(torn).hexdigest(),
            "data_b64": base64.b64encode(torn).decode("ascii"),
        }
        try:
            descriptor = os.open(
                self._quarantine, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
            )
            try:
                write_all(descriptor, canonical_json(note) + b"\n")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError as exc:
            raise self._fail(f"cannot quarantine a torn tail: {exc.strerror}") from None
        self._write_locked(
            [
                {
                    "event": "torn_tail_quarantined",
                    "offset": start,
                    "length": len(torn),
                    "sha256": note["sha256"],
                    "quarantine_file": self._quarantine.name,
                }
            ]
        )

    # ----------------------------------------------------------------------------- writing

    def _write_locked(self, bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]:
        lines, entries = _seal_batch(
            self._seq, self._prev, bodies, lambda offset, line: offset + len(line), self._offset
        )
        if not entries:
            return entries
        seq, prev, offset = entries[-1].seq, entries[-1].entry_hash, entries[-1].offset
        data = b"".join(lines)
        try:
            write_all(self._fd, data)
        except OSError as exc:
            # A partial line would poison the chain: cut back to where this append began.
            try:
                os.ftruncate(self._fd, self._offset)
            except OSError:
                raise self._fail(f"write failed ({exc.strerror}) and could not be undone") from None
            raise _unavailable(f"cannot append to {self._path}: {exc.strerror}") from None
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise self._fail(f"fdatasync failed ({exc.strerror})") from None
        self._seq, self._prev, self._offset = seq, prev, offset
        self._remember(entries)
        return entries

    def recover(self, committed: AuditHead | None) -> list[AuditEntry]:
        """Open-time check: position at the committed head, verify and return what follows.

        Creates the ``log_created`` entry of a new log. The entries returned are those after
        the store's committed head, whose effect the manager must reconcile (spec §12.4).
        """
        with self._exclusive():
            try:
                if committed is None:
                    self._seq, self._prev, self._offset = -1, GENESIS_HASH, 0
                else:
                    self._position_at(committed)
                entries = self._catch_up(0 if committed is None else committed.offset)
                if self._seq < 0:
                    if committed is not None:  # pragma: no cover - positioned on an entry
                        raise _unavailable(f"{self._path} is empty")
                    entries.extend(self._write_locked([_log_created()]))
                elif committed is None and entries and entries[0].event != "log_created":
                    raise self._fail("line 1: the first entry is not 'log_created'")
            except OSError as exc:
                raise _unavailable(f"cannot read {self._path}: {exc.strerror}") from None
            self._recovered = True
            return entries

    def pending(self, committed: AuditHead | None) -> list[AuditEntry]:
        """Every entry after the store's committed head, verified, up to the end of the log.

        Called inside a store write transaction, these are the entries whose transaction did
        not commit (or that were written outside one): the manager settles them. They are
        read again from the committed head each time, whoever appended or read them before.
        """
        if not self._recovered:
            raise RuntimeError("call recover() before pending()")
        with self._exclusive():
            try:
                self._catch_up(self._offset)
                start = 0 if committed is None else committed.offset
                seq = -1 if committed is None else committed.seq
                prev = GENESIS_HASH if committed is None else committed.entry_hash
                if start > self._offset:
                    raise self._fail("the lease store's committed head is beyond the log")
                entries: list[AuditEntry] = []
                if start == self._offset:
                    return entries
                for line, offset, complete in _iter_lines(self._fd, start):
                    if offset > self._offset or not complete:
                        break
                    entry = check_line(line, seq + 1, prev, offset)
                    entries.append(entry)
                    seq, prev = entry.seq, entry.entry_hash
                self._remember(entries)
                return entries
            except AuditProblem as problem:
                raise self._fail(f"line {problem.line_number}: {problem.problem}") from None
            except OSError as exc:
                raise _unavailable(f"cannot read {self._path}: {exc.strerror}") from None

    def append(self, bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]:
        """Append ``bodies`` as consecutive entries, durably, under the exclusive lock."""
        if not self._recovered:
            raise RuntimeError("call recover() before append()")
        if not bodies:
            return []
        with self._exclusive():
            try:
                self._catch_up(self._offset)
            except OSError as exc:
                raise _unavailable(f"cannot read {self._path}: {exc.strerror}") from None
            return self._write_locked(bodies)

    def head(self) -> AuditHead:
        return AuditHead(self._seq, self._prev, self._offset)

    _KEEP_LEAVES = 1 << 16

    def _remember(self, entries: Sequence[AuditEntry]) -> None:
        for entry in entries:
            self._leaves[entry.seq] = entry.leaf_hash
        if len(self._leaves) > self._KEEP_LEAVES:
            floor = self._seq - self._KEEP_LEAVES // 2
            self._leaves = {seq: leaf for seq, leaf in self._leaves.items() if seq > floor}

    def leaf_hashes(self, committed: AuditHead | None, last_seq: int) -> list[bytes]:
        """Merkle leaf hashes of the entries after ``committed`` up to ``last_seq``.

        Every entry this instance wrote or read is remembered, so a commit's new leaves come
        from memory; anything else is read back (and verified) from the committed head.
        """
        first = 0 if committed is None else committed.seq + 1
        wanted = range(first, last_seq + 1)
        if all(seq in self._leaves for seq in wanted):
            return [self._leaves[seq] for seq in wanted]
        by_seq = {entry.seq: entry.leaf_hash for entry in self.pending(committed)}
        try:
            return [by_seq[seq] for seq in wanted]
        except KeyError:
            raise _unavailable(f"{self._path} ends before entry {last_seq}") from None

    def verify(self) -> VerifyReport:
        return verify_audit_file(self._path)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            os.close(self._fd)
            self._broken = "the audit log is closed"


class MemoryAuditLog:
    """The in-memory fake. ``available = False`` fails every append; ``fail_next_append``
    fails one. Entries are kept as the same canonical lines a file would hold."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.available = True
        self.fail_next_append = False
        self._recovered = False

    def _head(self) -> tuple[int, bytes, int]:
        if not self.lines:
            return -1, GENESIS_HASH, 0
        record = json.loads(self.lines[-1])
        return int(record["seq"]), bytes.fromhex(record["entry_hash"]), len(self.lines)

    def recover(self, committed: AuditHead | None) -> list[AuditEntry]:
        if not self.available:
            raise _unavailable("the in-memory audit log is switched off")
        if committed is not None:
            if committed.seq >= len(self.lines):
                raise _unavailable("acknowledged audit entries are missing")
            if self._entry(committed.seq).entry_hash != committed.entry_hash:
                raise _unavailable(
                    f"line {committed.seq + 1} is not the entry the lease store committed"
                )
        self._recovered = True
        entries = self.pending(committed)
        if not self.lines:
            entries.extend(self.append([_log_created()]))
        return entries

    def _entry(self, index: int) -> AuditEntry:
        prev = GENESIS_HASH
        if index:
            prev = bytes.fromhex(json.loads(self.lines[index - 1])["entry_hash"])
        try:
            return check_line(self.lines[index][:-1], index, prev, index + 1)
        except AuditProblem as problem:
            raise _unavailable(str(problem)) from None

    def append(self, bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]:
        if not self._recovered:
            raise RuntimeError("call recover() before append()")
        if not self.available:
            raise _unavailable("the in-memory audit log is switched off")
        if self.fail_next_append:
            self.fail_next_append = False
            raise _unavailable("the in-memory audit log failed this append")
        seq, prev, _ = self._head()
        # Every line is sealed before any is kept: an append is all or nothing. The fake's
        # "offset" counts lines.
        lines, entries = _seal_batch(
            seq, prev, bodies, lambda offset, line: offset + 1, len(self.lines)
        )
        self.lines.extend(lines)
        return entries

    def pending(self, committed: AuditHead | None) -> list[AuditEntry]:
        """Every entry after the committed head (see ``JsonlAuditLog.pending``)."""
        if not self.available:
            raise _unavailable("the in-memory audit log is switched off")
        if committed is not None and committed.seq >= len(self.lines):
            raise _unavailable("the lease store's committed head is beyond the log")
        start = 0 if committed is None else committed.seq + 1
        return [self._entry(index) for index in range(start, len(self.lines))]

    def head(self) -> AuditHead:
        seq, prev, offset = self._head()
        return AuditHead(seq, prev, offset)

    def leaf_hashes(self, committed: AuditHead | None, last_seq: int) -> list[bytes]:
        if not self.available:
            raise _unavailable("the in-memory audit log is switched off")
        first = 0 if committed is None else committed.seq + 1
        if last_seq >= len(self.lines):
            raise _unavailable(f"the in-memory audit log ends before entry {last_seq}")
        return [merkle_leaf(line[:-1]) for line in self.lines[first : last_seq + 1]]

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines]

    def verify(self) -> VerifyReport:
        prev, head = GENESIS_HASH, None
        for index, line in enumerate(self.lines):
            try:
                entry = check_line(line[:-1], index, prev, index + 1)
            except AuditProblem as problem:
                return VerifyReport(False, index, head, problem.line_number, problem.problem)
            prev, head = entry.entry_hash, entry.head
        if head is None:
            return VerifyReport(False, 0, None, None, "the log is empty (no 'log_created' entry)")
        return VerifyReport(True, len(self.lines), head)

    def close(self) -> None:
        pass
