"""GET /healthz tells the truth about the database and the engine."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock
from app.engine.core import wall_now
from app.engine.models import EngineLease
from app.extensions import db


def lease(beat_age: timedelta) -> EngineLease:
    now = wall_now()
    row = EngineLease(name="engine", holder="host:1", acquired_at=now - timedelta(hours=1),
                      expires_at=now - beat_age + timedelta(seconds=15), heartbeat_at=now - beat_age,
                      cycles=10, last_cycle_ms=3.5)
    db.session.add(row)
    db.session.commit()
    return row


def test_healthz_is_public_and_reports_no_engine_as_unhealthy(client):
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json["database"]["ok"] is True
    assert answer.json["engine"] == {"ok": False, "state": "not running"}
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.db
def test_healthz_is_200_with_a_fresh_engine_heartbeat(client):
    clock.set(clock.now() - timedelta(days=30))  # the app clock does not fool it
    lease(timedelta(seconds=2))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json["engine"]["state"] == "running"
    assert 2.0 <= answer.json["engine"]["heartbeat_age_seconds"] < 10


def test_healthz_is_503_when_the_heartbeat_is_stale(client, app):
    lease(timedelta(seconds=app.config["ENGINE_STALE_SECONDS"] + 1))
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json["engine"]["state"] == "stale"


def test_healthz_is_503_when_the_database_is_gone(app, tmp_path):
    from tests.conftest import make_app
    broken = make_app(f"sqlite:///{tmp_path}/missing-dir/nope.db")
    answer = broken.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json["database"]["ok"] is False
