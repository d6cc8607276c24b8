"""A rolling upgrade on PostgreSQL from the last release (CHANGELOG.md) to this tree,
while pages go out: no page is lost, none is sent twice.

The last release's own code, taken from git at the commit CHANGELOG.md records,
migrates a fresh database to its last migration and seeds it, then runs as a
deployment does: a gunicorn web process and an engine (`flask engine run`). Events
go to the old web process and each pages its own person by SMS (the fake Twilio),
so throttles and bundles never merge two pages. Then, as an operator upgrades:

1. this tree's `flask db upgrade` runs while events keep coming to the old web
   process and the old engine keeps paging;
2. this tree's web app starts beside the old one on the migrated schema, and events
   go to both; every page so far must go out from the old engine (it still holds the
   lease), so a migration that takes away what the old code reads fails here;
3. this tree's engine starts as a standby, the old engine is stopped (SIGTERM gives
   the lease up) and the new one takes over; the old web process stops; events go on
   to the new web app and the new engine pages them.

Every event opens an incident whose one page reaches Twilio once (outbox rows
against provider requests), the schema is at this tree's head, and no process
logged a traceback. With no migration since the release, it proves the old release
runs on this tree's schema beside this tree's code; a migration added later is
exercised the moment it lands.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import PG_URL, make_app
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, free_port, wait_for
from tests.migration_policy import CHANGELOG, last_release, read_changelog

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LEASE = 10.0  # seconds: a takeover here is a clean stop, which gives the lease up at once
INTERVAL = 0.25
START = 30.0  # a process starting on a busy 2-core machine
PAGED = 15.0  # from an event to its page at Twilio, engine start-up aside
# Events per step; each opens one incident on its own service, paging its own person.
BEFORE, DURING, SIDE_BY_SIDE, AFTER = 4, 12, 8, 6
PEOPLE = BEFORE + DURING + SIDE_BY_SIDE + AFTER

# Run by the old release's Python, in its tree: migrate to its head, then one person
# (SMS at once), one policy and one service with a known integration key per event.
SEED = """
import json, sys
from datetime import UTC, datetime
from flask_migrate import upgrade
from wsgi import app
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget
from app.extensions import db
from app.notify import contacts
from app.services import service as services
from tests.factories import SYSTEM, make_service, make_user

with app.app_context():
    upgrade()
    now = datetime.now(UTC)
    for n, (key, phone) in enumerate(json.loads(sys.argv[1])):
        person = make_user(name=f"On call {n}", phone=phone, password=None)
        method = contacts.add_method(SYSTEM, person, "sms", phone, now, verified=True)
        contacts.set_rules(SYSTEM, person, "high", [(method.id, 0)])
        policy = EscalationPolicy(name=f"Rolling {n}", repeat=0, created_at=now, updated_at=now)
        step = EscalationStep(policy=policy, position=0, delay_minutes=30, mode="all")
        step.targets.append(EscalationTarget(kind="user", user_id=person.id))
        db.session.add(policy)
        service = make_service(f"rolling-{n}", with_key=False)
        services.add_integration_key(SYSTEM, service, key=key)
        db.session.flush()
        service.escalation_policy_id = policy.id
        db.session.commit()
"""


def slot(n: int) -> tuple[str, str]:
    """The integration key and the phone of the n-th event's service and person."""
    return f"rolling{n:025d}", f"+1555200{n:04d}"


def old_release_tree(tmp_path: Path) -> tuple[str, str, Path]:
    """The last release's commit and last migration, and its code extracted from git."""
    release = last_release(read_changelog(CHANGELOG.read_text(encoding="utf-8")))
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the last release's code comes from the repository's history")
    found = subprocess.run(["git", "cat-file", "-e", f"{release.commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {release.commit} ({release.version}) is not in this clone: fetch its full history")
    tree = tmp_path / f"firebreak-{release.version}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", release.commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return release.version, release.last_migration, tree


def fresh_database(name: str) -> str:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


class Processes:
    """Child processes with their output in files; all stopped at the end."""

    def __init__(self, tmp_path: Path, env: dict):
        self.tmp_path, self.env = tmp_path, env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], cwd: Path) -> subprocess.Popen:
        with open(self.tmp_path / f"{name}.log", "wb") as out:
            self.procs[name] = subprocess.Popen(args, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self.procs[name]

    def output(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def alive(self, name: str) -> bool:
        assert self.procs[name].poll() is None, f"{name} exited early:\n{self.output(name)}"
        return True

    def stop(self, name: str) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=20)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


class Events:
    """Trigger events, one per slot, each to the web process named; the answers kept."""

    def __init__(self):
        self.sent: list[tuple[int, str, int]] = []  # (slot, to which web, status)

    def send(self, web: str, url: str) -> None:
        n = len(self.sent)
        assert n < PEOPLE, "more events than people seeded"
        key, _ = slot(n)
        body = json.dumps({"routing_key": key, "event_action": "trigger", "dedup_key": f"rolling-{n}",
                           "payload": {"summary": f"Rolling upgrade {n}", "source": web,
                                       "severity": "critical"}}).encode()
        request = urllib.request.Request(f"{url}/v2/enqueue", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        self.sent.append((n, web, status))

    def phones(self) -> set[str]:
        return {slot(n)[1] for n, _, _ in self.sent}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # it answers (503 until an engine holds the lease)
    except OSError:
        return False


def test_a_rolling_upgrade_from_the_last_release_loses_no_page_and_sends_none_twice(backend, twilio, tmp_path):
    version, released_head, old_tree = old_release_tree(tmp_path)
    url = fresh_database(f"firebreak_rolling_{os.getpid()}")
    old_port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "rolling-upgrade-test",
           "FIREBREAK_INSTANCE_PATH": str(tmp_path / "instance"), "PUBLIC_BASE_URL": f"http://127.0.0.1:{old_port}",
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
           "TWILIO_API_BASE": twilio.base_url, "ENGINE_LEASE_SECONDS": str(LEASE),
           "ENGINE_INTERVAL_SECONDS": str(INTERVAL), "PYTHONUNBUFFERED": "1"}
    env.pop("ENGINE_IN_PROCESS", None)
    database = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def scalar(sql: str):
        with database.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    def lease() -> str | None:
        return scalar("SELECT holder || '/' || epoch FROM engine_leases WHERE name = 'engine'")

    def paged(what: str, engine: str) -> None:
        """Wait for every event so far to have paged its person; else fail with the engine's log."""
        try:
            wait_for(lambda: {m.to for m in twilio.messages} >= events.phones(), PAGED, what)
        except AssertionError as error:
            log = "\n".join(line for line in processes.output(engine).splitlines() if "skipped: maximum" not in line)
            raise AssertionError(f"{error}\n--- {engine}'s log:\n{log[-4000:]}") from None

    seeded = subprocess.run([PYTHON, "-c", SEED, json.dumps([slot(n) for n in range(PEOPLE)])], cwd=old_tree,
                            env=env, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    assert scalar("SELECT version_num FROM alembic_version") == released_head

    processes = Processes(tmp_path, env)
    events = Events()
    new_web = None
    old = f"http://127.0.0.1:{old_port}"
    try:
        processes.start("old-engine", [PYTHON, "-m", "flask", "--app", "wsgi", "engine", "run"], old_tree)
        processes.start("old-web", [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{old_port}", "--workers", "1",
                                    "--worker-class", "gthread", "--threads", "4", "--no-control-socket", "wsgi:app"],
                        old_tree)
        wait_for(lambda: processes.alive("old-web") and answers(old), START, f"{version}'s web process to answer")
        wait_for(lambda: processes.alive("old-engine") and lease(), START, f"{version}'s engine to take the lease")
        old_lease = lease()

        # The last release alone.
        for _ in range(BEFORE):
            events.send("old", old)
        paged(f"{version}'s engine to page its first incidents", "old-engine")

        # 1. This tree's migrations run while the old release works.
        upgrade = processes.start("upgrade", [PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"], ROOT)
        during = 0
        while upgrade.poll() is None or during == 0:
            if during < DURING:
                events.send("old", old)
                during += 1
            time.sleep(0.1)
        assert upgrade.wait(timeout=120) == 0, processes.output("upgrade")

        # 2. This tree's web app beside the old one, on the migrated schema.
        app = make_app(url)
        new_web = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=new_web.serve_forever, daemon=True).start()
        new = f"http://127.0.0.1:{new_web.server_port}"
        processes.start("new-engine", [PYTHON, "-m", "flask", "--app", "wsgi", "engine", "run"], ROOT)
        for n in range(SIDE_BY_SIDE):
            events.send("old" if n % 2 else "new", old if n % 2 else new)
            time.sleep(0.1)
        paged(f"{version}'s engine to page every incident opened since the migrations", "old-engine")
        assert lease() == old_lease, "the old engine lost the lease before it was stopped"

        # 3. The old release stops; this tree's engine takes over.
        wait_for(lambda: processes.alive("new-engine") and "Engine running" in processes.output("new-engine"),
                 START, "this tree's engine to start")
        assert processes.stop("old-engine") == 0, processes.output("old-engine")
        wait_for(lambda: (held := lease()) and held != old_lease, LEASE, "this tree's engine to take the lease")
        assert int(lease().split(":")[1]) == processes.procs["new-engine"].pid
        assert processes.stop("old-web") == 0, processes.output("old-web")
        for _ in range(AFTER):
            events.send("new", new)
            time.sleep(0.1)
        paged("this tree's engine to page the incidents opened after the takeover", "new-engine")
        time.sleep(3 * INTERVAL)  # a cycle more: a page sent twice would show now
    finally:
        if new_web is not None:
            new_web.shutdown()
            new_web.server_close()
            with app.app_context():
                db.engine.dispose()
        processes.stop_all()

    assert [status for _, _, status in events.sent] == [202] * len(events.sent)
    assert {web for _, web, _ in events.sent} == {"old", "new"}
    assert scalar("SELECT count(*) FROM incidents") == len(events.sent)
    # Each incident paged its person once, and nobody else was paged.
    assert sorted(m.to for m in twilio.messages) == sorted(events.phones())
    assert twilio.calls == []
    with database.connect() as conn:
        sids = conn.execute(sa.text("SELECT provider_id FROM notifications WHERE provider_id IS NOT NULL")).scalars()
        sids = sorted(sids)
        pages = conn.execute(sa.text("SELECT to_address, status FROM notifications WHERE purpose = 'page'")).all()
    assert sids == sorted(sent.sid for sent in twilio.sent)  # one provider request per outbox row
    assert sorted(to for to, _ in pages) == sorted(events.phones())
    assert {status for _, status in pages} == {"sent"}
    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    assert scalar("SELECT version_num FROM alembic_version") == head
    for name in ("old-engine", "old-web", "new-engine"):
        assert "Traceback" not in processes.output(name), processes.output(name)
    database.dispose()
