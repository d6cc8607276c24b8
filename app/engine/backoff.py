"""How long due work waits after a failed attempt: one table for the outbox
(app.notify.dispatch) and every outbound webhook (app.webhooks).

A failure is tried again after 15 s, then 30 s, 1, 2, 4 and 5 minutes, then every
5 minutes, MAX_ATTEMPTS attempts in all (about 40 minutes of trying).
"""
from __future__ import annotations

from datetime import timedelta

BACKOFF = (15, 30, 60, 120, 240, 300)  # seconds after the 1st, 2nd, … failure; then every 5 minutes
MAX_ATTEMPTS = 12


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1 for the first)."""
    return timedelta(seconds=BACKOFF[min(max(attempts, 1) - 1, len(BACKOFF) - 1)])


def exhausted(attempts: int) -> bool:
    """Whether `attempts` tries are all there will be."""
    return attempts >= MAX_ATTEMPTS
