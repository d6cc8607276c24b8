"""scripts/serve.sh stops gracefully: SIGTERM to its process (what a container host
or systemd sends) while requests and an engine cycle are in flight lets the requests
finish, ends the engine at a unit boundary with its lease given up, and loses or
repeats no page. And scripts/supervise.py, which serve.sh execs into, on its own
with small shell commands: restarts, signals, exit status.

The requests in flight are real: event POSTs waiting for SQLite's write lock, which
the test holds across the SIGTERM. The engine's cycle is real too: a batch of pages
waiting on the fake Twilio, which answers late.
"""
from __future__ import annotations

import http.client
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.engine.models import EngineLease
from app.escalation import policies
from app.extensions import db
from app.incidents import service as incidents
from app.notify.models import Channel, Notification
from app.services.models import IntegrationKey
from tests.factories import SYSTEM, actor, make_service, make_user, reachable
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, wait_for
from tests.served import ROOT, Served

pytestmark = pytest.mark.realtime

GRACE = 20  # seconds: serve.sh's graceful timeout for gunicorn and the engine
# How long the fake Twilio holds the engine's first batch: the requests are taken and
# the SIGTERM sent well within it, even on a busy machine.
HANG = 6.0
RESPONDERS = 12  # one page each: a batch of NOTIFY_CONCURRENCY (8) in flight, 4 left due
REQUESTS = 6
INTAKE_KEY = "5d" * 16
# The pages due at once (each person's rules call and email minutes later).
SMS_PAGES = sa.select(Notification).where(Notification.purpose == "page", Notification.channel == Channel.SMS)


@pytest.fixture
def app_config(twilio):
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE": twilio.base_url}


def seed_pages() -> None:
    """An incident paging RESPONDERS people by SMS at once (no voice or email within
    the test), and a service without a policy for the events."""
    admin = make_user(Role.ADMIN)
    people = [reachable(make_user(Role.RESPONDER), email=False) for _ in range(RESPONDERS)]
    now = datetime.now(UTC)
    policy = policies.create_policy(actor(admin), name="Everyone", now=now)
    step = policies.add_step(actor(admin), policy, delay_minutes=30, mode="all", now=now)
    for person in people:
        policies.add_target(actor(admin), step, "user", person.id, now)
    paged = make_service("payments")
    paged.escalation_policy_id = policy.id
    intake = make_service("intake", with_key=False)
    db.session.add(IntegrationKey(service=intake, key=INTAKE_KEY, name="test"))
    incidents.open_incident(SYSTEM, service=paged, title="Payments down", severity=2, now=now)
    db.session.commit()


def trigger(dedup_key: str) -> dict:
    return {"routing_key": INTAKE_KEY, "event_action": "trigger", "dedup_key": dedup_key,
            "payload": {"summary": f"Disk full ({dedup_key})", "source": "db-1", "severity": "warning"}}


def _sockets(port: int) -> list[tuple[str, int]]:
    """(state, bytes waiting to be read) of each IPv4 TCP socket on this local port,
    from /proc/net/tcp (state 01: established)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found.append((fields[3], int(fields[4].split(":")[1], 16)))
    return found


def read_by_gunicorn(port: int) -> int:
    """Connections to gunicorn's port, established on its side, whose bytes it has all
    read: once the request was sent, a thread of the worker has it."""
    return sum(1 for state, waiting in _sockets(port) if state == "01" and waiting == 0)


def test_sigterm_lets_requests_and_the_engine_finish_and_a_standby_takes_over_at_once(app, database_url, twilio,
                                                                                     tmp_path):
    seed_pages()
    assert len(db.session.scalars(SMS_PAGES).all()) == RESPONDERS
    db.session.remove()
    twilio.hang_seconds = HANG  # the engine's first batch waits at the provider, across the SIGTERM
    served = Served(tmp_path, database_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                    TWILIO_FROM_NUMBER=FROM_NUMBER, TWILIO_API_BASE=twilio.base_url,
                    WEB_THREADS=str(REQUESTS + 2))  # a thread for each request: none waits in a queue
    path = database_url.removeprefix("sqlite:///")
    try:
        served.wait_ready()
        wait_for(lambda: twilio.requests >= 1, 30, "the engine's first batch of pages to reach Twilio")
        answers: dict[str, int] = {}
        sent = threading.Semaphore(0)

        def post(key: str) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=GRACE + 10)
            try:
                connection.request("POST", "/v2/enqueue", json.dumps(trigger(key)),
                                   {"Content-Type": "application/json"})
                sent.release()  # the request is in gunicorn's socket: read from there or not, it is owed an answer
                answers[key] = connection.getresponse().status
            finally:
                connection.close()

        with closing(sqlite3.connect(path, isolation_level=None, timeout=15)) as lock:
            lock.execute("BEGIN IMMEDIATE")  # every write waits, the events' too
            senders = [threading.Thread(target=post, args=(f"in-flight-{n}",)) for n in range(REQUESTS)]
            for sender in senders:
                sender.start()
            for _ in senders:
                assert sent.acquire(timeout=30), "a request was not sent"
            # Every request read by a thread of gunicorn's worker, so in the app, waiting
            # for the lock.
            wait_for(lambda: read_by_gunicorn(served.port) == REQUESTS, 30,
                     f"gunicorn's threads to read the {REQUESTS} requests")
            served.signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            wait_for(lambda: "Handling signal: term" in served.output(), 15, "gunicorn to begin its graceful stop")
            assert read_by_gunicorn(served.port) == REQUESTS  # the requests still wait
            lock.execute("ROLLBACK")
        status = served.process.wait(timeout=GRACE + 10)
        took = time.monotonic() - stopped_at
        for sender in senders:
            sender.join(10)
    finally:
        served.close()
    output = served.output()
    assert status == 0, output[-4000:]
    assert took < GRACE, f"stopping took {took:.1f} s"
    assert answers == {f"in-flight-{n}": 202 for n in range(REQUESTS)}, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert any(Path(served.env["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"))  # the web's and the engine's metrics

    keys = db.session.scalars(sa.text("SELECT dedup_key FROM alerts")).all()
    assert sorted(keys) == sorted(answers)
    lease = db.session.get(EngineLease, "engine")
    assert lease.expires_at < datetime.now(UTC), "the stopped engine kept its lease"
    first_batch = db.session.scalars(sa.select(Notification).where(Notification.provider_id.is_not(None))).all()
    assert len(first_batch) == len(twilio.messages) == 8  # the batch in flight was sent and recorded

    twilio.hang_seconds = 0
    standby = Engine(all_jobs(), holder="standby")
    assert standby.cycle().active  # its first cycle: the lease was given up, not left to expire
    while standby.cycle().more:
        pass
    db.session.expire_all()
    sent = db.session.scalars(SMS_PAGES).all()
    assert all(row.provider_id for row in sent), [(row.id, row.status) for row in sent]
    assert sorted(m.sid for m in twilio.messages) == sorted(row.provider_id for row in sent)
    assert len({m.to for m in twilio.messages}) == len(twilio.messages) == RESPONDERS  # each once


# --- scripts/supervise.py on its own -----------------------------------------------------

def supervise(tmp_path, engine: str, web: str, grace: float = 5) -> subprocess.Popen:
    """The supervisor in tmp_path over two shell scripts, its own output in
    tmp_path/supervise.log."""
    with open(tmp_path / "supervise.log", "wb") as log:
        return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "supervise.py"), "--grace", str(grace),
                                 "--engine", f"sh -c {shlex.quote(engine)}", "--", "sh", "-c", web],
                                cwd=tmp_path, stderr=log)


def said(tmp_path) -> str:
    return (tmp_path / "supervise.log").read_text()


def test_the_engine_is_started_again_after_a_growing_pause_and_signals_reach_both(tmp_path):
    engine = "echo started >> engine.log; exit 3"
    web = "trap 'echo term >> web.log; exit 0' TERM; while true; do sleep 0.05; done"
    process = supervise(tmp_path, engine, web)
    try:
        wait_for(lambda: "starting it again in 2 s" in said(tmp_path), 10, "the engine's second restart")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # the web server's status
    finally:
        process.kill()
    assert "the engine exited (status 3); starting it again in 1 s" in said(tmp_path)
    assert (tmp_path / "engine.log").read_text() == "started\n" * 2  # not a third time: stopping
    assert (tmp_path / "web.log").read_text() == "term\n"


def test_sigint_reaches_the_web_server_as_sigterm_its_graceful_stop(tmp_path):
    """gunicorn takes SIGINT as its quick stop, which cuts the requests in flight."""
    engine = "trap 'echo int >> engine.log; exit 0' INT; echo up > engine.log; while true; do sleep 0.05; done"
    web = ("trap 'echo term >> web.log; exit 0' TERM; trap 'echo int >> web.log; exit 0' INT; "
           "while true; do sleep 0.05; done")
    process = supervise(tmp_path, engine, web)
    try:
        wait_for(lambda: (tmp_path / "engine.log").exists(), 10, "the engine to start")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    assert (tmp_path / "web.log").read_text() == "term\n"
    assert (tmp_path / "engine.log").read_text() == "up\nint\n"  # the engine stops alike on either


def test_when_the_web_server_exits_the_engine_is_stopped_and_its_status_is_kept(tmp_path):
    engine = "trap 'echo term >> engine.log; exit 0' TERM; while true; do sleep 0.05; done"
    process = supervise(tmp_path, engine, "sleep 0.5; exit 4")
    assert process.wait(timeout=10) == 4
    assert (tmp_path / "engine.log").read_text() == "term\n"
    assert "the web server exited (status 4)" in said(tmp_path)


def test_an_engine_that_does_not_stop_within_the_grace_is_killed(tmp_path):
    engine = "trap '' TERM; echo up > engine.log; while true; do sleep 0.05; done"
    web = "trap 'exit 0' TERM; while true; do sleep 0.05; done"
    process = supervise(tmp_path, engine, web, grace=0.5)
    try:
        wait_for(lambda: (tmp_path / "engine.log").exists(), 10, "the engine to start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    assert "the engine did not stop within" in said(tmp_path)
