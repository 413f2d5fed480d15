"""The clock adapter: where the kernel's ``MonotonicTime`` comes from (spec §2.2).

``BootClock`` reads ``CLOCK_BOOTTIME`` (which, unlike ``CLOCK_MONOTONIC``, keeps counting while
the machine is suspended, so a lease cannot outlive its duration by sleeping) and names the
clock's epoch with the kernel's boot id, which changes at every boot. A reading from one boot is
never compared with a reading from another: the kernel treats a different epoch as expired.
The manager reads the clock once per operation and passes that one reading to the kernel.
"""

from __future__ import annotations

import re
import time
from typing import Protocol, runtime_checkable

from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.kernel.inputs import EPOCH_PATTERN, MonotonicTime

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
_EPOCH = re.compile(EPOCH_PATTERN)


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock with a named epoch. ``now`` raises ``StateError`` if unreadable."""

    def now(self) -> MonotonicTime: ...


class BootClock:
    """``CLOCK_BOOTTIME`` nanoseconds in the epoch of the running kernel's boot id."""

    __slots__ = ("_epoch",)

    def __init__(self, boot_id_path: str = BOOT_ID_PATH) -> None:
        try:
            with open(boot_id_path, encoding="ascii") as handle:
                boot_id = handle.read(128).strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(
                StateFailure.CLOCK_UNAVAILABLE, f"cannot read the boot id at {boot_id_path}: {exc}"
            ) from None
        if not _EPOCH.fullmatch(boot_id):
            raise StateError(
                StateFailure.CLOCK_UNAVAILABLE, f"{boot_id_path} does not hold a boot id"
            )
        if not hasattr(time, "CLOCK_BOOTTIME"):  # pragma: no cover - Linux only
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, "CLOCK_BOOTTIME is not available")
        self._epoch = boot_id

    @property
    def epoch(self) -> str:
        return self._epoch

    def now(self) -> MonotonicTime:
        try:
            return MonotonicTime(self._epoch, time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        except OSError as exc:  # pragma: no cover - the kernel refused the clock
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, str(exc)) from None

    def __repr__(self) -> str:
        return f"BootClock(epoch={self._epoch})"


class FakeClock:
    """A clock for tests: it moves only when told to, and ``reboot`` starts a new epoch."""

    def __init__(self, epoch: str = "boot-1", ns: int = 0) -> None:
        self._time = MonotonicTime(epoch, ns)
        self._boots = 1
        self.available = True

    def now(self) -> MonotonicTime:
        if not self.available:
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, "the fake clock is switched off")
        return self._time

    def advance(self, ns: int) -> MonotonicTime:
        if type(ns) is not int or ns < 0:
            raise ValueError("a monotonic clock only moves forward")
        self._time = MonotonicTime(self._time.epoch, self._time.ns + ns)
        return self._time

    def reboot(self, epoch: str | None = None, ns: int = 0) -> MonotonicTime:
        """A new boot: a new epoch (``boot-N`` unless given) and the counter restarted."""
        self._boots += 1
        self._time = MonotonicTime(epoch or f"boot-{self._boots}", ns)
        return self._time


# ---------------------------------------------------------------------------------- calendar

NS_PER_DAY = 86_400_000_000_000
MAX_DAY = (1 << 31) - 1


@runtime_checkable
class Calendar(Protocol):
    """Today, as days since 1970-01-01 UTC: the day of daily spend budgets (spec §14.3).

    A pooled manager reads it once per operation and records it with the usage snapshot, so
    replay never reads a calendar. ``today`` raises ``StateError`` if the day is unknown.
    """

    def today(self) -> int: ...


class SystemCalendar:
    """The wall clock's UTC day. A wall clock can be set back; the day is only used to group
    spend, never to judge a lease's time, which stays on the monotonic clock."""

    def today(self) -> int:
        try:
            day = time.time_ns() // NS_PER_DAY
        except OSError as exc:  # pragma: no cover - the wall clock does not fail on Linux
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, f"wall clock: {exc}") from None
        if not 0 <= day <= MAX_DAY:
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, f"wall clock day {day} is invalid")
        return day


class FakeCalendar:
    """A calendar the test sets; ``available = False`` makes it fail."""

    def __init__(self, day: int = 20426) -> None:
        self.day = day
        self.available = True

    def today(self) -> int:
        if not self.available:
            raise StateError(StateFailure.CLOCK_UNAVAILABLE, "the fake calendar is switched off")
        return self.day

    def advance(self, days: int = 1) -> int:
        self.day += days
        return self.day
