"""When the database cannot take a request (its disk is full, it cannot be reached),
the answer is a clear 503 with Retry-After, nothing is half written, and once the
database is back everything works."""
from __future__ import annotations

import sqlalchemy as sa

from app import clock
from sqlalchemy import event

from app.alerts.models import Alert
from app.extensions import db
from tests.conftest import make_app
from app.auth.models import Role
from app.incidents import service as incidents
from tests.factories import SYSTEM, login, make_service, make_user


def event_for(key: str, dedup: str = "disk-full-test") -> dict:
    return {"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": "Disk 99% full", "source": "db-1", "severity": "critical"}}


def test_a_full_disk_answers_503_changes_nothing_and_recovers(app, client, backend):
    """SQLITE_FULL, made with max_page_count: the database may not grow by a page."""
    if backend != "sqlite":
        return
    service = make_service()
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout down", severity=2, now=clock.now())
    login(client, make_user(Role.RESPONDER))
    key, incident_id = service.integration_keys[0].key, incident.id
    db.session.commit()
    db.session.remove()

    def no_room(dbapi_connection, record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    db.engine.dispose()
    event.listen(db.engine, "connect", no_room)
    try:
        answers = [client.post("/v2/enqueue", json=event_for(key, f"full-{n}")) for n in range(40)]
        refused = [a for a in answers if a.status_code != 202]
        assert refused, "the database never filled up"
        assert {a.status_code for a in refused} == {503}
        assert refused[0].json["status"] == "unavailable"
        assert "disk is full" in refused[0].json["message"] and refused[0].headers["Retry-After"] == "30"
        accepted = sum(1 for a in answers if a.status_code == 202)
        note = client.post(f"/incidents/{incident_id}/notes", data={"text": "x" * 5000})
        assert note.status_code == 503 and b"disk is full: nothing was changed" in note.data
    finally:
        event.remove(db.engine, "connect", no_room)
        db.engine.dispose()
    # Nothing half written: exactly the accepted events are there, and the file is sound.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == accepted
    assert db.session.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    db.session.rollback()
    # Room again: the next event goes in.
    assert client.post("/v2/enqueue", json=event_for(key, "after")).status_code == 202


def test_an_unreachable_database_answers_503(tmp_path):
    from bench._harness import free_port
    gone = make_app(f"postgresql+psycopg://app@127.0.0.1:{free_port()}/nowhere")
    client = gone.test_client()
    answer = client.post("/v2/enqueue", json=event_for("0" * 32))
    assert answer.status_code == 503 and "cannot be reached" in answer.json["message"]
    assert answer.headers["Retry-After"] == "30"
    page = client.get("/status")
    assert page.status_code == 503 and b"cannot be reached" in page.data
    assert client.get("/healthz").status_code == 503
    with gone.app_context():
        db.engine.dispose()
