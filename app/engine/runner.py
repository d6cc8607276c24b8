"""Running the engine: in the foreground (`flask engine run`), or in a background
thread of the web process (`ENGINE_IN_PROCESS`). APScheduler only drives the cycle;
every piece of state is in the database.

Stopping in the foreground is graceful: SIGTERM or SIGINT lets the cycle at hand end
at a unit boundary (`Engine.stopping`), then gives the lease up, so a standby engine
takes over on its next cycle rather than after the lease period."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.engine.core import Engine
from app.engine.deadman import DeadMansSwitch
from app.engine.jobs import all_jobs
from app.extensions import db

log = logging.getLogger("firebreak.engine")


def _cycle(app: Flask, engine_box: dict) -> None:
    """One cycle, and at once another while the last left due work behind (a full
    batch, or a job's slice spent): a burst is worked off without sleeping between."""
    with app.app_context():
        stopping = engine_box.get("stopping")
        if stopping is not None and stopping.is_set():
            return  # a cycle queued behind the one the signal stopped
        engine = engine_box.get("engine")
        if engine is None:
            engine = engine_box["engine"] = Engine(all_jobs(), slice_seconds=app.config["ENGINE_SLICE_SECONDS"],
                                                   stopping=stopping)
            engine_box["switch"] = DeadMansSwitch(app.config["ENGINE_HEARTBEAT_URL"])
        try:
            while True:
                report = engine.cycle()
                engine_box["switch"].cycled(report)  # ENGINE_HEARTBEAT_URL, in a thread of its own
                if report.errors:
                    log.warning("engine cycle errors: %s", report.errors)
                if not report.more or not report.active or (stopping is not None and stopping.is_set()):
                    break
        except Exception:
            db.session.rollback()
            log.exception("engine cycle failed")
        finally:
            db.session.remove()


def _scheduler(scheduler, app: Flask, box: dict, **first):
    scheduler.add_job(_cycle, "interval", args=[app, box], seconds=app.config["ENGINE_INTERVAL_SECONDS"],
                      id="engine-cycle", max_instances=1, coalesce=True, misfire_grace_time=None, **first)
    return scheduler


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def run_forever(app: Flask) -> None:
    """Run a cycle at once and then every ENGINE_INTERVAL_SECONDS, until SIGTERM or
    SIGINT; return once the cycle at hand has ended and the lease is given up.

    The signals are blocked and taken by sigwait, not by a handler: a handler runs
    between any two bytecodes of the main thread, so whatever it did (shut the
    scheduler down, raise) could land in the middle of a unit."""
    box: dict = {"stopping": threading.Event()}
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # before any thread starts: they inherit it
    scheduler = _scheduler(BackgroundScheduler(), app, box, next_run_time=datetime.now(UTC))
    try:
        scheduler.start()
        received = signal.sigwait(STOP_SIGNALS)
        log.info("engine stopping (%s): finishing the unit at hand", signal.Signals(received).name)
    finally:
        box["stopping"].set()
        if scheduler.running:
            scheduler.shutdown(wait=True)
        with app.app_context():
            engine = box.get("engine")
            if engine is not None:
                engine.release()
            db.session.remove()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


_started = threading.Lock()
_background: BackgroundScheduler | None = None


def start_in_background(app: Flask) -> BackgroundScheduler:
    """The engine in a daemon thread of this process; the lease keeps it to one
    active engine however many web processes start one."""
    global _background
    with _started:
        if _background is None:
            _background = _scheduler(BackgroundScheduler(daemon=True), app, {})
            _background.start()
        return _background
