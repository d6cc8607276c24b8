"""Two real engine processes on one SQLite file: the standby takes over when the
leader is killed mid-work, and nothing due is lost or done twice.

The engines are `flask --app wsgi engine run` subprocesses with a short lease; the
due work is acknowledged incidents whose acknowledgement timeouts (and heartbeats
whose deadlines) fall due over a few seconds of real time, so the leader is killed
while work is still coming due. The test reads the database through its own plain
sqlite3 connection and polls for every condition with a deadline.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.alerts.models import Heartbeat
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident
from tests.factories import SYSTEM, make_service
from tests.fakes import wait_for

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
LEASE = 2.0  # seconds
INTERVAL = 0.25  # seconds
# Process start-up and scheduling on a small shared machine: the slack allowed on top
# of the lease period and one interval.
SLACK = 2.0
INCIDENTS = 40
HEARTBEATS = 4
SPREAD = 6.0  # the due times fall over this many seconds from the start

pytestmark = pytest.mark.realtime



def parse(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


class Engines:
    """Engine processes started with their output in files; all stopped at the end."""

    def __init__(self, tmp_path: Path, database_url: str):
        self.tmp_path = tmp_path
        self.env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "takeover-test",
                    "ENGINE_LEASE_SECONDS": str(LEASE), "ENGINE_INTERVAL_SECONDS": str(INTERVAL),
                    "FIREBREAK_INSTANCE_PATH": str(tmp_path / "instance")}
        self.env.pop("ENGINE_IN_PROCESS", None)
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}

    def start(self) -> subprocess.Popen:
        log = self.tmp_path / f"engine-{len(self.procs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(FLASK), "--app", "wsgi", "engine", "run"], cwd=ROOT, env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid].read_text(errors="replace")

    def running(self, proc: subprocess.Popen) -> bool:
        assert proc.poll() is None, f"engine {proc.pid} exited early:\n{self.output(proc)}"
        return "Engine running" in self.output(proc)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def test_a_standby_engine_takes_over_from_a_killed_one_and_nothing_is_done_twice(app, database_url, tmp_path):
    service = make_service()
    service.ack_timeout_minutes = 30
    now = datetime.now(UTC)
    ids = []
    for n in range(INCIDENTS):
        incident = incidents.open_incident(SYSTEM, service=service, title=f"Disk full {n}", severity=3, now=now)
        incidents.acknowledge(SYSTEM, incident, now)
        ids.append(incident.id)
    beats = [Heartbeat(service=service, name=f"job-{n}", interval_seconds=60, grace_seconds=0, created_at=now)
             for n in range(HEARTBEATS)]
    db.session.add_all(beats)
    db.session.commit()
    beat_ids = [beat.id for beat in beats]
    db.session.remove()

    path = database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path, isolation_level=None, timeout=15)) as conn:
        def one(sql: str, *args):
            return conn.execute(sql, args).fetchone()

        def lease():
            row = one("SELECT holder, epoch, expires_at, acquired_at FROM engine_leases WHERE name = 'engine'")
            return None if row is None else {"holder": row[0], "epoch": row[1], "expires_at": parse(row[2]),
                                             "acquired_at": parse(row[3])}

        engines = Engines(tmp_path, database_url)
        try:
            first, second = engines.start(), engines.start()
            wait_for(lambda: engines.running(first) and engines.running(second), 20, "both engines to start")
            leader_lease = wait_for(lease, 10, "an engine to take the lease")
            by_pid = {first.pid: first, second.pid: second}
            leader_pid = int(leader_lease["holder"].split(":")[1])
            leader = by_pid[leader_pid]
            survivor = second if leader is first else first

            # The work falls due from now on, spread over SPREAD seconds of real time.
            start = datetime.now(UTC)
            due = {}
            for n, ident in enumerate(ids):
                due[ident] = start + timedelta(seconds=0.3 + SPREAD * n / INCIDENTS)
            with app.app_context():
                for ident, at in due.items():
                    db.session.execute(sa.update(Incident).where(Incident.id == ident).values(ack_timeout_at=at))
                for n, ident in enumerate(beat_ids):
                    db.session.execute(sa.update(Heartbeat).where(Heartbeat.id == ident).values(
                        due_at=start + timedelta(seconds=0.5 + SPREAD * n / HEARTBEATS)))
                db.session.commit()
                db.session.remove()

            def timed_out() -> int:
                return one("SELECT count(*) FROM incident_events WHERE kind = 'ack_timed_out'")[0]

            # Kill the leader once it has done some of the work, with most still to come.
            wait_for(lambda: timed_out() >= 5, 10, "the leader to time out some acknowledgements")
            assert lease()["holder"] == leader_lease["holder"]
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
            killed_at = datetime.now(UTC)
            done_by_leader = timed_out()
            assert done_by_leader < INCIDENTS - 5, "the work ran out before the leader was killed"

            taken = wait_for(lambda: (row := lease()) and row["holder"] != leader_lease["holder"] and row,
                             LEASE + INTERVAL + SLACK + 2, "the standby to take the lease")
            assert int(taken["holder"].split(":")[1]) == survivor.pid
            assert taken["epoch"] > leader_lease["epoch"]
            took = (taken["acquired_at"] - killed_at).total_seconds()
            assert took <= LEASE + INTERVAL + SLACK, f"the standby took over {took:.2f} s after the kill"

            last_due = max(due.values())
            wait_for(lambda: timed_out() >= INCIDENTS, (last_due - datetime.now(UTC)).total_seconds() + 5,
                     "every acknowledgement timeout to be processed")
            wait_for(lambda: one("SELECT count(*) FROM alerts WHERE dedup_key LIKE 'heartbeat:%'")[0] >= HEARTBEATS,
                     5, "every missed heartbeat to raise its alert")
            # One more cycle's worth of time: a double-processing engine would show it now.
            time.sleep(3 * INTERVAL)

            # Every incident timed out exactly once, and is back to triggered.
            counts = dict(conn.execute(
                "SELECT incident_id, count(*) FROM incident_events WHERE kind = 'ack_timed_out' GROUP BY incident_id"))
            assert counts == {ident: 1 for ident in ids}
            audits = dict(conn.execute(
                "SELECT object_id, count(*) FROM audit_log WHERE action = 'incident.ack_timeout' GROUP BY object_id"))
            assert {int(k): v for k, v in audits.items()} == {ident: 1 for ident in ids}
            rows = conn.execute(
                f"SELECT status, ack_timeout_at FROM incidents WHERE id IN ({','.join(map(str, ids))})").fetchall()
            assert rows == [("triggered", None)] * INCIDENTS
            # Work that fell due after the kill was done by the survivor, none of it late by more than the takeover.
            after_kill = conn.execute("SELECT count(*) FROM incident_events WHERE kind = 'ack_timed_out' AND at > ?",
                                      (killed_at.replace(tzinfo=None).isoformat(sep=" "),)).fetchone()[0]
            assert after_kill > 0

            # Each missed heartbeat raised one alert (occurring once) and one incident.
            beat_alerts = conn.execute(
                "SELECT dedup_key, occurrences, incident_id FROM alerts WHERE dedup_key LIKE 'heartbeat:%'").fetchall()
            assert sorted(key for key, _, _ in beat_alerts) == sorted(f"heartbeat:{i}" for i in beat_ids)
            assert all(occurrences == 1 and incident_id for _, occurrences, incident_id in beat_alerts)
            assert len({incident_id for _, _, incident_id in beat_alerts}) == HEARTBEATS
            assert one("SELECT count(*) FROM heartbeats WHERE state = 'down' AND due_at IS NULL")[0] == HEARTBEATS
            assert lease()["epoch"] == taken["epoch"]  # no more changes of holder

            # A clean stop releases the lease at once.
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(timeout=10) == 0, engines.output(survivor)
            released = lease()
            assert released["holder"] == taken["holder"] and released["expires_at"] <= datetime.now(UTC)
        finally:
            engines.stop_all()
