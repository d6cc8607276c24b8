"""Knowledge sharing: opening a past incident or a post-mortem is recorded once per
person, thing and day, after the response has gone, without the page ever taking
the write lock."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.insights import reads
from app.insights.models import PageRead
from app.postmortems import service as postmortems
from tests.factories import SYSTEM, login, make_service, make_user, resolve

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app):
    clock.set(T0)
    reader = make_user(Role.VIEWER, name="Rhea Reader")
    service = make_service("checkout-api")
    past = incidents.open_incident(SYSTEM, service=service, title="Old trouble", severity=2, now=T0)
    resolve(SYSTEM, past, T0 + timedelta(minutes=30))
    current = incidents.open_incident(SYSTEM, service=service, title="New trouble", severity=3, now=T0)
    db.session.commit()
    return reader, past, current, postmortems.for_incident(past)


def rows():
    db.session.commit()  # end the test's own read, to see what the request wrote since
    return db.session.execute(sa.select(PageRead.user_id, PageRead.kind, PageRead.object_id, PageRead.incident_id,
                                        PageRead.read_on).order_by(PageRead.id)).all()


@pytest.mark.db
def test_a_read_is_recorded_after_the_response_once_a_day(world, client):
    reader, past, current, pm = world
    login(client, reader)
    answer = client.get(f"/incidents/{past.id}")
    assert answer.status_code == 200
    assert rows() == []  # nothing written while the page was made
    answer.close()       # the response has gone
    assert rows() == [(reader.id, "incident", past.id, past.id, T0.date())]
    client.get(f"/incidents/{past.id}").close()
    client.get(f"/postmortems/{pm.id}").close()
    assert len(rows()) == 2
    clock.set(T0 + timedelta(days=1))
    client.get(f"/incidents/{past.id}").close()
    assert len(rows()) == 3


@pytest.mark.db
def test_what_is_not_a_read(world, client):
    reader, past, current, pm = world
    client.get(f"/incidents/{past.id}").close()  # signed out: sent to sign in
    login(client, reader)
    client.get(f"/incidents/{current.id}").close()  # still open: responding, not learning
    client.get(f"/incidents/{past.id}", headers={"HX-Request": "true"}, query_string={"v": "0"}).close()  # a poll
    client.get("/incidents/424242").close()
    assert rows() == []


def test_the_page_never_waits_for_a_writer(world, client, database_url):
    """Another connection holds the write lock: the page still answers (it reads
    deferred), and the read is written once the lock is free."""
    reader, past, _, _ = world
    login(client, reader)
    db.session.commit()
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        answer = client.get(f"/incidents/{past.id}")
        assert answer.status_code == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    answer.close()
    assert len(rows()) == 1


def test_a_failure_to_record_never_reaches_the_reader(world, app, caplog):
    reader, past, _, _ = world
    assert reads.record_read(app, reader.id, "incident", 424242, clock.now()) is False
    db.session.execute(sa.text("DROP TABLE page_reads"))
    db.session.commit()
    assert reads.record_read(app, reader.id, "incident", past.id, clock.now()) is False
    assert "could not record a read" in caplog.text
