"""The engine: one idempotent cycle over due work, held by a lease.

Due work lives in the domains' own tables as rows with a due time (an incident's
acknowledgement timeout, a heartbeat's deadline, a maintenance window's next
transition, …). A `Job` names how to find what is due (an indexed query, so a
cycle's cost follows the due work, not the number of open incidents) and how to do
one unit. Each unit runs in its own short transaction that first proves, by
updating the lease row with our holder id and epoch, that this engine still holds
the lease: if another engine has taken over, the unit is rolled back, so no unit is
ever done by two engines. A unit re-checks its own condition, so running it again
after a crash is harmless. A job whose work must leave the transaction between
steps (the outbox: claim, call the provider, record) drives its units itself
(`Job.run_all` with `Units`), each step still a fenced transaction of its own.

A cycle may be given a time slice per job (`slice_seconds`, the runner's): a job
that spends it stops taking units, so the jobs after it (the outbox after
escalations) get their turn, and the report says more is due
(`CycleReport.more`), which the runner answers with another cycle at once instead
of sleeping.

An engine told to stop (`Engine.stopping`, set by the runner on SIGTERM) finishes
the unit it is on and takes no more: the rest stay due, for the next engine. A
claimed batch of messages is a unit from claim to record, so none is cut in half.

The lease lives in the database (`engine_leases`), so it works across processes
and machines on SQLite and PostgreSQL alike. Its times are wall-clock times, not
the settable `app.clock`: `engine tick --at` moves the work's clock, never the
lease's.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Callable, Iterator

import sqlalchemy as sa
from flask import current_app

from app import clock, metrics
from app import logs
from app.database import write_intent
from app.engine.models import EngineLease
from app.extensions import db

log = logging.getLogger("firebreak.engine")
LEASE_NAME = "engine"


def wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    """A kind of due work: `due(now, limit)` lists ids, `run(id, now)` does one.

    `run_all(ids, now, units)`, when given, replaces the loop over `run`: the job
    does its due work in units it opens itself (`units.unit(id)`), for work that
    must leave the transaction between steps. `on_incidents`: the ids are
    incidents' ids, which the records a unit logs carry (app.logs)."""

    name: str
    due: Callable[[datetime, int], list]
    run: Callable[[object, datetime], bool]
    run_all: Callable[[list, datetime, "Units"], None] | None = None
    on_incidents: bool = False


@dataclass
class CycleReport:
    holder: str
    active: bool
    at: datetime
    done: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lost_lease: bool = False
    elapsed_ms: float = 0.0
    more: bool = False  # due work was left for the next cycle (a full batch, or the time budget spent)

    @property
    def total(self) -> int:
        return sum(self.done.values())


class LeaseLost(Exception):
    pass


class UnitOutcome:
    """What a unit's block says it did (`done`: it did something, or how many
    things when the unit holds several), and, after the block, whether its
    transaction was committed (`error`: why not, when the block raised)."""

    done: bool | int = False
    committed: bool = False
    error: Exception | None = None


class Units:
    """A job's units within one cycle: each a fenced transaction of its own."""

    def __init__(self, engine: "Engine", job: Job, report: CycleReport, deadline: float | None):
        self.engine, self.job, self.report, self.deadline = engine, job, report, deadline

    def out_of_time(self) -> bool:
        """Stop taking units (the rest stay due): the cycle's time budget is spent,
        or the engine is stopping."""
        if self.engine.stopping.is_set() or (self.deadline is not None and time.perf_counter() >= self.deadline):
            self.report.more = True
            return True
        return False

    @contextmanager
    def unit(self, ident, *, report: bool = True) -> Iterator[UnitOutcome]:
        """One unit: fence, the block, commit. A failing block is rolled back and
        reported, and the job goes on; a lost lease stops the cycle (LeaseLost).
        With `report=False` a failure is only logged and left in `outcome.error`,
        for a job that tries several things together and then each alone."""
        outcome = UnitOutcome()
        with logs.about_incident(ident if self.job.on_incidents and isinstance(ident, int) else None):
            try:
                self.engine._fence()
                yield outcome
                db.session.commit()
                outcome.committed = True
            except LeaseLost:
                db.session.rollback()
                raise
            except Exception as error:
                db.session.rollback()
                outcome.error = error
                if report:
                    log.exception("engine job %s failed on %s", self.job.name, ident)
                    self.report.errors.append(f"{self.job.name} {ident}: {error}")
                else:
                    log.warning("engine job %s: %s failed together (%s); trying each alone", self.job.name, ident,
                                error)
                return
        if outcome.done:
            self.report.done[self.job.name] = self.report.done.get(self.job.name, 0) + int(outcome.done)


def make_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


_leases = EngineLease.__table__
_LEASE_TIME = _leases.c.expires_at.type
# Every unit's first statement, built once (building it cost more than running it).
_FENCE = (_leases.update()
          .where(_leases.c.name == LEASE_NAME, _leases.c.holder == sa.bindparam("p_holder"),
                 _leases.c.epoch == sa.bindparam("p_epoch"),
                 _leases.c.expires_at >= sa.bindparam("p_now", type_=_LEASE_TIME))
          .values(expires_at=sa.bindparam("p_expires", type_=_LEASE_TIME),
                  heartbeat_at=sa.bindparam("p_now", type_=_LEASE_TIME)))


class Engine:
    def __init__(self, jobs: list[Job], *, holder: str | None = None, lease_seconds: float | None = None,
                 batch: int = 500, wall: Callable[[], datetime] = wall_now, slice_seconds: float | None = None,
                 stopping: threading.Event | None = None):
        self.jobs = jobs
        self.holder = holder or make_holder_id()
        self.lease_seconds = lease_seconds or current_app.config["ENGINE_LEASE_SECONDS"]
        self.batch = batch
        self.wall = wall
        # A job stops taking units once it has run this long in a cycle (None: no limit).
        self.slice_seconds = slice_seconds
        # Once set, the cycle at hand ends at the next unit boundary.
        self.stopping = stopping or threading.Event()
        self.epoch: int | None = None

    # --- the lease ------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take or renew the lease. True when this engine holds it afterwards."""
        with write_intent():
            return self._acquire()

    def _acquire(self) -> bool:
        now = self.wall()
        expires = now + timedelta(seconds=self.lease_seconds)
        table = EngineLease.__table__
        try:
            renewed = db.session.execute(
                table.update()
                .where(table.c.name == LEASE_NAME, table.c.holder == self.holder, table.c.epoch == (self.epoch or -1))
                .values(expires_at=expires, heartbeat_at=now)).rowcount
            if renewed:
                db.session.commit()
                return True
            taken = db.session.execute(
                table.update()
                .where(table.c.name == LEASE_NAME, sa.or_(table.c.expires_at < now, table.c.holder == self.holder))
                .values(holder=self.holder, epoch=table.c.epoch + 1, acquired_at=now, expires_at=expires,
                        heartbeat_at=now, last_error=None)).rowcount
            if not taken:
                exists = db.session.scalar(sa.select(table.c.name).where(table.c.name == LEASE_NAME))
                if exists is None:
                    db.session.execute(table.insert().values(
                        name=LEASE_NAME, holder=self.holder, epoch=1, acquired_at=now, expires_at=expires,
                        heartbeat_at=now, cycles=0, last_cycle_ms=0.0))
                    taken = 1
            if not taken:
                db.session.rollback()
                self.epoch = None
                return False
            self.epoch = db.session.scalar(sa.select(table.c.epoch).where(table.c.name == LEASE_NAME))
            db.session.commit()
            log.info("engine %s holds the lease (epoch %s)", self.holder, self.epoch)
            return True
        except sa.exc.IntegrityError:  # another engine inserted the row first
            db.session.rollback()
            self.epoch = None
            return False

    def _fence(self) -> None:
        """Inside a unit's transaction: prove the lease is still ours, and extend it."""
        now = self.wall()
        held = db.session.execute(_FENCE, {"p_holder": self.holder, "p_epoch": self.epoch, "p_now": now,
                                           "p_expires": now + timedelta(seconds=self.lease_seconds)}).rowcount
        if not held:
            raise LeaseLost(self.holder)

    def release(self) -> None:
        """Give the lease up (on a clean shutdown) so a standby takes over at once."""
        if self.epoch is None:
            return
        table = EngineLease.__table__
        with write_intent():
            db.session.execute(table.update().where(table.c.name == LEASE_NAME, table.c.holder == self.holder,
                                                    table.c.epoch == self.epoch)
                               .values(expires_at=self.wall() - timedelta(seconds=1)))
            db.session.commit()
        self.epoch = None

    # --- one cycle --------------------------------------------------------------------

    def cycle(self) -> CycleReport:
        with write_intent():
            return self._cycle()

    def _cycle(self) -> CycleReport:
        started = time.perf_counter()
        now = clock.now()
        report = CycleReport(holder=self.holder, active=False, at=now)
        if not self.acquire():
            return report
        report.active = True
        for job in self.jobs:
            if self.stopping.is_set():
                report.more = True
                break
            try:
                with write_intent(False):  # a read: on SQLite it need not wait for the write lock
                    ids = job.due(now, self.batch)
                    db.session.rollback()  # end the read; each unit has its own transaction
            except Exception as error:  # a broken query must not stop the other jobs
                db.session.rollback()
                log.exception("engine job %s: finding due work failed", job.name)
                report.errors.append(f"{job.name}: {error}")
                continue
            if len(ids) >= self.batch:
                report.more = True
            # Each job may spend the slice, then the next has its turn: escalations
            # made early in a burst reach the outbox without waiting for the last.
            deadline = None if self.slice_seconds is None else time.perf_counter() + self.slice_seconds
            units = Units(self, job, report, deadline)
            try:
                if job.run_all is not None:
                    job.run_all(ids, now, units)
                else:
                    for ident in ids:
                        if units.out_of_time():
                            break
                        with units.unit(ident) as unit:
                            unit.done = bool(job.run(ident, now))
            except LeaseLost:
                log.warning("engine %s lost its lease mid-cycle; stopping", self.holder)
                report.lost_lease = True
                self.epoch = None
                report.elapsed_ms = (time.perf_counter() - started) * 1000
                return report
            except Exception as error:  # run_all itself failed, outside its units
                db.session.rollback()
                log.exception("engine job %s failed", job.name)
                report.errors.append(f"{job.name}: {error}")
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        self._record(report)
        metrics.engine_cycle(report.elapsed_ms / 1000)
        return report

    def _record(self, report: CycleReport) -> None:
        table = EngineLease.__table__
        db.session.execute(
            table.update().where(table.c.name == LEASE_NAME, table.c.holder == self.holder, table.c.epoch == self.epoch)
            .values(cycles=table.c.cycles + 1, last_cycle_ms=report.elapsed_ms, heartbeat_at=self.wall(),
                    last_error="; ".join(report.errors)[:2000] if report.errors else None))
        db.session.commit()
