"""The one clock. Everything that asks "what time is it" asks here.

Production reads the system clock. Tests and `flask engine tick --at` set it, so
time is moved, never waited for. The override is process-wide on purpose: a test's
live server thread must see the same time as the test.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_frozen: datetime | None = None

# The years a time read from outside may fall in: far inside the calendar's ends, so a
# window reaching back or ahead from it never leaves them (an OverflowError: a 500).
FIRST_YEAR, LAST_YEAR = 1900, 9000


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    frozen = _frozen
    if frozen is not None:
        return frozen
    return datetime.now(UTC)


def set(at: datetime) -> None:  # noqa: A001 - reads well as clock.set(...)
    """Stop the clock at `at` (aware, any zone) until `reset()` or another `set()`."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("clock.set needs an aware datetime")
    with _lock:
        _frozen = at.astimezone(UTC)


def advance(delta: timedelta) -> datetime:
    """Move a set clock forward; returns the new time."""
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance() needs a set clock")
    set(_frozen + delta)
    return _frozen


def reset() -> None:
    global _frozen
    with _lock:
        _frozen = None


def is_set() -> bool:
    return _frozen is not None


@contextmanager
def frozen_at(at: datetime):
    """Run a block as if the time were `at`, restoring the previous clock after."""
    global _frozen
    previous = _frozen
    set(at)
    try:
        yield at
    finally:
        with _lock:
            _frozen = previous


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC from an aware or a naive-UTC datetime (what SQLite hands back)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
