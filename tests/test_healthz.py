"""GET /healthz tells the truth about the database and the engine; /healthz/ready (what
load balancers ask) only about the database, and /healthz/live only that the process
answers."""
from __future__ import annotations

import re
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
    """A lease still held by an engine that no longer beats (hung) is stale; once the
    lease has expired too, nobody holds it: stopped, however old the last beat."""
    row = lease(timedelta(seconds=app.config["ENGINE_STALE_SECONDS"] + 1))
    row.expires_at = wall_now() + timedelta(seconds=10)
    db.session.commit()
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json["engine"]["state"] == "stale"
    row.expires_at = wall_now() - timedelta(seconds=30)
    db.session.commit()
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json["engine"]["state"] == "stopped"


def test_healthz_is_503_when_the_database_is_gone(app, tmp_path):
    from tests.conftest import make_app
    broken = make_app(f"sqlite:///{tmp_path}/missing-dir/nope.db")
    answer = broken.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json["database"]["ok"] is False


def test_healthz_is_503_once_nobody_holds_the_lease(client):
    """A recent heartbeat is no proof: an engine that stopped (or was killed and not
    replaced) leaves an expired lease, and a standby would have taken it in a cycle."""
    row = lease(timedelta(seconds=3))
    row.expires_at = wall_now() - timedelta(seconds=5)  # released on a clean stop, say
    db.session.commit()
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json["engine"]["state"] == "stopped" and answer.json["engine"]["lease_expired_seconds_ago"] >= 5
    row.expires_at = wall_now() + timedelta(seconds=10)  # taken again
    db.session.commit()
    assert client.get("/healthz").status_code == 200


def test_healthz_is_503_when_the_disk_under_the_database_is_nearly_full(client, app, backend):
    if backend != "sqlite":
        pytest.skip("the disk is the SQLite file's")
    lease(timedelta(seconds=1))
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json["disk"]["ok"] is True
    app.config["HEALTHZ_MIN_FREE_BYTES"] = answer.json["disk"]["free_bytes"] * 2
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json["disk"]["ok"] is False


# --- liveness and readiness ---------------------------------------------------------------

def test_a_stopped_engine_fails_the_report_but_not_readiness(client):
    """The web tier keeps taking events and serving the status page without an engine:
    only /healthz (people, monitoring) says the engine is down."""
    row = lease(timedelta(seconds=40))
    row.expires_at = wall_now() - timedelta(seconds=25)
    db.session.commit()
    assert client.get("/healthz").json["engine"]["state"] == "stopped"
    for path in ("/healthz/ready", "/healthz/live"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "no-store"
        assert "engine" not in answer.json
    assert client.get("/healthz/ready").json["database"]["ok"] is True


def test_an_unreachable_database_fails_readiness_but_not_liveness(tmp_path):
    from tests.conftest import make_app
    broken = make_app(f"sqlite:///{tmp_path}/missing-dir/nope.db").test_client()
    ready = broken.get("/healthz/ready")
    assert ready.status_code == 503 and ready.json["database"]["ok"] is False
    assert ready.headers["Cache-Control"] == "no-store"
    live = broken.get("/healthz/live")
    assert live.status_code == 200 and live.json == {"ok": True}


def test_readiness_fails_when_the_disk_under_the_database_is_nearly_full(client, app, backend):
    if backend != "sqlite":
        pytest.skip("the disk is the SQLite file's")
    answer = client.get("/healthz/ready")
    assert answer.status_code == 200 and answer.json["disk"]["ok"] is True
    app.config["HEALTHZ_MIN_FREE_BYTES"] = answer.json["disk"]["free_bytes"] * 2
    answer = client.get("/healthz/ready")
    assert answer.status_code == 503 and answer.json["disk"]["ok"] is False
    assert client.get("/healthz/live").status_code == 200


@pytest.mark.db
def test_readiness_answers_on_each_database(client, backend):
    answer = client.get("/healthz/ready")
    assert answer.status_code == 200
    assert answer.json["database"] == {"ok": True, "backend": backend}


def test_deployment_health_checks_ask_for_readiness():
    """A platform's health check decides whether the web tier gets traffic: pointed at
    /healthz, an engine outage would take ingestion and the status page down with it."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    found = {}
    for name in ("fly.toml", "Dockerfile", "compose.yaml"):
        path = root / name
        if path.exists():
            found[name] = re.findall(r"/healthz[\w/]*", path.read_text())
    assert found["fly.toml"], "fly.toml has no health check"
    assert {name: [p for p in paths if p not in ("/healthz/ready", "/healthz/live")]
            for name, paths in found.items()} == {name: [] for name in found}


def test_a_database_that_answers_but_has_no_lease_table_is_503_not_500(tmp_path):
    """SELECT 1 passes, the engine's lease cannot be read (a database not migrated yet,
    or one gone between the two queries): still the JSON report and 503."""
    from tests.conftest import make_app
    empty = make_app(f"sqlite:///{tmp_path}/not-migrated.db").test_client()
    answer = empty.get("/healthz")
    assert answer.status_code == 503
    assert answer.json["database"]["ok"] is False and answer.json["engine"] == {"ok": False, "state": "unknown"}
    assert answer.headers["Cache-Control"] == "no-store"
