"""Running the engine: in the foreground (`flask engine run`), or in a background
thread of the web process (`ENGINE_IN_PROCESS`). APScheduler only drives the cycle;
every piece of state is in the database."""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db

log = logging.getLogger("firebreak.engine")


def _cycle(app: Flask, engine_box: dict) -> None:
    """One cycle, and at once another while the last left due work behind (a full
    batch, or a job's slice spent): a burst is worked off without sleeping between."""
    with app.app_context():
        engine = engine_box.get("engine")
        if engine is None:
            engine = engine_box["engine"] = Engine(all_jobs(), slice_seconds=app.config["ENGINE_SLICE_SECONDS"])
        stopping = engine_box.get("stopping")
        try:
            while True:
                report = engine.cycle()
                if report.errors:
                    log.warning("engine cycle errors: %s", report.errors)
                if not report.more or not report.active or (stopping is not None and stopping.is_set()):
                    break
        except Exception:
            db.session.rollback()
            log.exception("engine cycle failed")
        finally:
            db.session.remove()


def _scheduler(scheduler, app: Flask, box: dict):
    scheduler.add_job(_cycle, "interval", args=[app, box], seconds=app.config["ENGINE_INTERVAL_SECONDS"],
                      id="engine-cycle", max_instances=1, coalesce=True, misfire_grace_time=None)
    return scheduler


def run_forever(app: Flask) -> None:
    """Block, running a cycle every ENGINE_INTERVAL_SECONDS until SIGTERM or SIGINT."""
    box: dict = {"stopping": threading.Event()}
    scheduler = _scheduler(BlockingScheduler(), app, box)

    def stop(signum, frame):
        log.info("engine stopping (signal %s)", signum)
        box["stopping"].set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _cycle(app, box)  # the first cycle at once, not after one interval
    try:
        scheduler.start()
    finally:
        with app.app_context():
            engine = box.get("engine")
            if engine is not None:
                engine.release()
            db.session.remove()


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
