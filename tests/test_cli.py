"""The commands other tools and people rely on (DESIGN.md)."""
from __future__ import annotations

from datetime import timedelta

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from app.auth.models import Role, Team, User
from app.extensions import db
from app.oncall.models import Schedule
from app.services.models import Service


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.db
def test_seed_demo_builds_a_believable_organisation_once(app, runner, tmp_path):
    app.instance_path = str(tmp_path)
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo sign-in: admin@example.com / " in first.output
    assert (count(Team), count(User), count(Service)) == (3, 12, 6)
    assert (tmp_path / "demo-login.txt").read_text().startswith("admin@example.com ")
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "0 teams, 0 people, 0 services, 0 schedules, 0 components added" in second.output
    assert (count(Team), count(User), count(Service)) == (3, 12, 6)
    roles = {u.role for u in db.session.scalars(sa.select(User))}
    assert roles == {Role.ADMIN, Role.RESPONDER, Role.VIEWER}
    assert all(s.team_id and s.active_keys for s in db.session.scalars(sa.select(Service)))
    names = set(db.session.scalars(sa.select(Schedule.name)))
    assert len(names) == 4 and "Incident Commander" in names
    assert all(s.next_handover_at for s in db.session.scalars(sa.select(Schedule)))
    # The past incidents' messages (review requests, reminders) are history: none goes out late.
    from app import clock
    from app.notify.models import Notification, Status
    stale = sa.select(sa.func.count()).select_from(Notification).where(
        Notification.status == Status.QUEUED, Notification.next_attempt_at < clock.now() - timedelta(hours=1))
    assert db.session.scalar(stale) == 0
    assert count(Notification) > 0  # the history did queue messages (now cancelled)


def test_seed_demo_if_empty_leaves_a_used_database_alone(app, runner, tmp_path):
    app.instance_path = str(tmp_path)
    runner.invoke(args=["create-user", "--email", "me@example.com", "--name", "Me", "--role", "admin"])
    answer = runner.invoke(args=["seed-demo", "--if-empty"])
    assert answer.exit_code == 0 and "no demo data added" in answer.output
    assert count(User) == 1


def test_demo_sign_in_works(app, runner, client, tmp_path):
    app.instance_path = str(tmp_path)
    runner.invoke(args=["seed-demo", "--password", "demo password 123"])
    answer = client.post("/login", data={"email": "admin@example.com", "password": "demo password 123"})
    assert answer.status_code == 303


@pytest.mark.db
def test_create_user(app, runner):
    answer = runner.invoke(args=["create-user", "--email", "Dana@Example.com", "--name", "Dana Okafor",
                                 "--role", "responder", "--password", "long enough password",
                                 "--phone", "+15551230001"])
    assert answer.exit_code == 0, answer.output
    user = db.session.scalar(sa.select(User).where(User.email == "dana@example.com"))
    assert user.phone == "+15551230001" and user.role == Role.RESPONDER


def test_create_user_refuses_bad_input_clearly(app, runner):
    answer = runner.invoke(args=["create-user", "--email", "x@example.com", "--name", "X", "--phone", "12345"])
    assert answer.exit_code == 1 and "international form" in answer.output
    assert count(User) == 0


def test_create_api_token_prints_a_working_token(app, runner, client):
    runner.invoke(args=["create-user", "--email", "bot@example.com", "--name", "Bot", "--role", "responder"])
    answer = runner.invoke(args=["create-api-token", "--email", "bot@example.com", "--name", "deploys"])
    assert answer.exit_code == 0
    token = answer.output.strip()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["email"] == "bot@example.com"
    missing = runner.invoke(args=["create-api-token", "--email", "nobody@example.com", "--name", "x"])
    assert missing.exit_code == 1 and "No person has the email" in missing.output


def test_backup_is_consistent_while_the_app_writes(app, runner, tmp_path):
    url = db.engine.url
    stop = threading.Event()
    written = []

    def writer():
        engine = sa.create_engine(url)
        n = 0
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO teams (name, description, created_at) VALUES (:n, '', '2026-01-01')"),
                             {"n": f"team-{n}"})
            written.append(n)
            n += 1
        engine.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 50:
            pass
        answer = runner.invoke(args=["backup", str(tmp_path / "copy.db")])
    finally:
        stop.set()
        thread.join()
    assert answer.exit_code == 0, answer.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    teams = copy.execute("SELECT count(*) FROM teams").fetchone()[0]
    assert 50 <= teams <= len(written)
    # A snapshot has a prefix of the writes, never a gap.
    names = {row[0] for row in copy.execute("SELECT name FROM teams")}
    assert names == {f"team-{n}" for n in range(teams)}
    assert copy.execute("SELECT version_num FROM alembic_version").fetchone()
    copy.close()
    again = runner.invoke(args=["backup", str(tmp_path / "copy.db")])
    assert again.exit_code == 1 and "exists" in again.output
