"""Drills and game days: declared as exercises, run like incidents, assessed per
participant, counted only under training."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.errors import DomainError
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.insights import drills, metrics
from app.insights.models import DrillAssessment
from app.insights.periods import Period
from tests.factories import actor, login, make_service, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MARCH = metrics.Filters(Period(date(2026, 3, 1), date(2026, 3, 31), UTC))


@pytest.fixture
def world(app):
    clock.set(T0)
    lead = make_user(Role.RESPONDER, name="Lena Lead")
    player = make_user(Role.RESPONDER, name="Pia Player")
    viewer = make_user(Role.VIEWER, name="Vic Viewer")
    return lead, player, viewer, make_service("payments-db")


@pytest.mark.db
def test_a_drill_is_an_exercise_assessed_per_participant(world):
    lead, player, _, service = world
    drill = drills.start_drill(actor(lead), service=service, title="Game day: failover", severity=2, now=T0,
                               scenario="Primary goes away at 09:05")
    incidents.acknowledge(actor(player), drill, T0 + timedelta(minutes=3))
    incidents.resolve(actor(player), drill, T0 + timedelta(minutes=40))
    assert drill.is_exercise and [p.name for p in drills.participants(drill)] == ["Lena Lead", "Pia Player"]
    drills.assess(actor(lead), drill, player, T0 + timedelta(hours=1), score=85, note="Calm, clear updates")
    drills.assess(actor(lead), drill, lead, T0 + timedelta(hours=1), score="0")
    drills.assess(actor(lead), drill, player, T0 + timedelta(hours=2), score=90)
    db.session.commit()
    assert {a.user_id: a.score for a in db.session.scalars(sa.select(DrillAssessment))} == {player.id: 90, lead.id: 0}
    for bad in (101, -1, "lots"):
        with pytest.raises(DomainError):
            drills.assess(actor(lead), drill, player, clock.now(), score=bad)
    real = incidents.open_incident(actor(lead), service=service, title="Real", severity=3, now=T0)
    with pytest.raises(DomainError):
        drills.assess(actor(lead), real, player, clock.now(), score=50)
    training = metrics.training(MARCH)
    assert (training.drills, training.assessed, training.mean_score) == (1, 2, 45.0)
    assert metrics.counts(MARCH).incidents == 1 and metrics.counts(MARCH).exercises == 1
    assert metrics.response_times(MARCH)["mttr"].n == 0  # the drill's resolution is not operational
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "drill.assess")) == 3
    assert [row.assessed for row in drills.recent()] == [2]


def test_the_drill_pages_and_the_declare_form(world, client):
    lead, player, viewer, service = world
    login(client, lead)
    assert client.get("/insights/drills/new").status_code == 200
    bad = client.post("/insights/drills/new", data={"title": "", "service_id": str(service.id), "severity": "2"})
    assert bad.status_code == 400
    answer = client.post("/insights/drills/new", data={"title": "Game day: DNS", "service_id": str(service.id),
                                                      "severity": "3", "scenario": "Resolver returns SERVFAIL"})
    drill = db.session.scalar(sa.select(Incident).where(Incident.title == "Game day: DNS"))
    assert answer.status_code == 303 and drill.is_exercise
    page = client.get(f"/insights/drills/{drill.id}").get_data(as_text=True)
    assert "Lena Lead" in page and "Save score" in page
    saved = client.post(f"/insights/drills/{drill.id}/assess", data={"user_id": lead.id, "score": "70", "note": "ok"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"#person-{lead.id}")
    refused = client.post(f"/insights/drills/{drill.id}/assess", data={"user_id": lead.id, "score": "700"})
    assert refused.status_code == 400 and "From 0 to 100" in refused.get_data(as_text=True)
    assert "Game day: DNS" in client.get("/insights/drills").get_data(as_text=True)
    declared = client.post("/incidents/new", data={"title": "Tabletop: lost region", "service_id": str(service.id),
                                                   "severity": "2", "is_exercise": "y"})
    assert declared.status_code == 303
    assert db.session.scalar(sa.select(Incident.is_exercise).where(Incident.title == "Tabletop: lost region"))
    real = incidents.open_incident(actor(lead), service=service, title="Real", severity=3, now=T0)
    db.session.commit()
    assert client.get(f"/insights/drills/{real.id}").status_code == 404
    login(client, viewer)
    assert client.get(f"/insights/drills/{drill.id}").status_code == 200
    assert "Save score" not in client.get(f"/insights/drills/{drill.id}").get_data(as_text=True)
    refused = client.post(f"/insights/drills/{drill.id}/assess", data={"user_id": lead.id, "score": "1"})
    assert refused.status_code == 403
