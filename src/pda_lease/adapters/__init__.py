"""The thin shells around the pure kernel: clock, trust source, lease store, audit log.

Each adapter is a ``typing.Protocol`` with one real implementation (the durable one the
``LeaseManager`` opens by default) and one in-memory fake for tests and embedders' own tests.
Nothing here decides anything: adapters read the outside world (a clock, a file, a database)
and record what the kernel decided. Every failure to read or durably write surfaces as a
``StateError`` whose ``reason`` names the adapter, so the manager can fail closed with a typed
``UNAVAILABLE`` denial (spec §5.7, §12).
"""

from pda_lease.adapters.audit import (
    AuditEntry,
    AuditLog,
    JsonlAuditLog,
    MemoryAuditLog,
    VerifyReport,
    verify_audit_file,
)
from pda_lease.adapters.clock import (
    BootClock,
    Calendar,
    Clock,
    FakeCalendar,
    FakeClock,
    SystemCalendar,
)
from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.store import (
    ApprovalRecord,
    AuditHead,
    LeaseRecord,
    LeaseStore,
    MemoryLeaseStore,
    ReviewRecord,
    RevocationRecord,
    RevocationRegistry,
    SqliteLeaseStore,
)
from pda_lease.adapters.trust import FileTrustSource, MemoryTrustSource, TrustSource

__all__ = [
    "ApprovalRecord",
    "AuditEntry",
    "AuditHead",
    "AuditLog",
    "BootClock",
    "Calendar",
    "Clock",
    "FakeCalendar",
    "FakeClock",
    "FileTrustSource",
    "JsonlAuditLog",
    "LeaseRecord",
    "LeaseStore",
    "MemoryAuditLog",
    "MemoryLeaseStore",
    "MemoryTrustSource",
    "ReviewRecord",
    "RevocationRecord",
    "RevocationRegistry",
    "SqliteLeaseStore",
    "StateError",
    "StateFailure",
    "SystemCalendar",
    "TrustSource",
    "VerifyReport",
    "verify_audit_file",
]
