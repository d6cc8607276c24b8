"""The engine's dead man's switch: `ENGINE_HEARTBEAT_URL` is fetched after the engine's
cycles, at most once a minute, so an outside service (a healthchecks.io check, a
Cronitor or Better Stack heartbeat) pages someone when the pings stop, that is when no
engine is cycling and nothing inside Firebreak can say so.

Only a cycle that counts pings: one that held the lease to its end and had no error. A
standby engine never pings (the switch is about the engine doing the work), and neither
does an engine whose cycles keep failing, since paging has stopped just as surely.

A ping never holds a cycle up: it runs in a thread of its own with a short timeout, one
at a time, and a failure is logged, never raised, naming the host and what went wrong
but never the path (the check's secret, which some errors would quote). The minute is measured on a monotonic
clock of the machine, not `app.clock`: `engine tick --at` moves the work's time, and a
ping is about the engine running now.
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Callable
from urllib.parse import urlsplit

from app.engine.core import CycleReport

log = logging.getLogger("firebreak.engine")

EVERY_SECONDS = 60.0
TIMEOUT_SECONDS = 5.0


class DeadMansSwitch:
    def __init__(self, url: str, *, every: float = EVERY_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.every = every
        self.timeout = timeout
        self.clock = clock
        self._last: float | None = None
        self._ping: threading.Thread | None = None

    def cycled(self, report: CycleReport) -> threading.Thread | None:
        """Called after each cycle: starts a ping when the cycle counts and a minute has
        passed since the last one started. Returns the thread that fetches the URL, or
        None when this cycle does not ping."""
        if not self.url or not report.active or report.lost_lease or report.errors:
            return None
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return None
        if self._ping is not None and self._ping.is_alive():
            return None  # the last one still waits for its answer
        self._last = now
        self._ping = threading.Thread(target=self._fetch, name="engine-heartbeat", daemon=True)
        self._ping.start()
        return self._ping

    def _fetch(self) -> None:
        request = urllib.request.Request(self.url, headers={"User-Agent": "Firebreak engine heartbeat"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read(4096)
        except Exception as error:  # whatever it is, the engine goes on; the next ping may work
            log.warning("engine heartbeat to %s failed: %s", _host(self.url), _why(error))


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _why(error: Exception) -> str:
    """What went wrong, in words that cannot hold the URL: a status, a socket's error
    (refused, timed out, no such host), else the error's kind (InvalidURL, for one,
    quotes the whole URL)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP Error {error.code}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, OSError) else error
    if isinstance(error, OSError) and type(error).__module__ in ("builtins", "socket", "ssl"):
        return str(error)
    return type(error).__name__
