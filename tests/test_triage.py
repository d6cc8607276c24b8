"""The triage wizard, the severity model and guide, the matrix, objective breaches."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation.models import SeverityTrigger
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent
from app.triage import levels
from app.triage import service as triage
from tests.factories import SYSTEM, actor, login, make_service, make_team, make_user, reachable

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)


@pytest.fixture
def responder(client):
    clock.set(T0)
    user = make_user(Role.RESPONDER, name="Dana")
    login(client, user)
    return user


def walk(client, answers: dict, upto: int):
    """Post the wizard's steps 0..upto-1 with `answers`, as a browser would."""
    answer = None
    for step in range(upto):
        answer = client.post("/triage/new", data={**answers, "step": str(step)})
    return answer


def test_the_wizard_recommends_with_reasons_and_opens_the_incident(client, responder):
    checkout, search = make_service("checkout-api"), make_service("search")
    answers = {f"svc-{checkout.id}": "unavailable", f"svc-{search.id}": "operational", "reach": "all",
               "data_loss": "no", "security": "no", "exposure": "yes", "workaround": "no"}
    final = walk(client, answers, 4)
    html = final.get_data(as_text=True)
    assert final.status_code == 200
    assert "Recommended: SEV-1" in html and "SEV-1 because checkout-api is unavailable for all customers" in html
    opened = client.post("/triage/new", data={**answers, "step": "4", "severity": "1", "service_id": str(checkout.id),
                                              "title": "Checkout is down", "description": "Seen by support"})
    assert opened.status_code == 303
    incident = db.session.scalar(sa.select(Incident))
    assert (incident.severity, incident.source, incident.service_id) == (1, "triage", checkout.id)
    assert "Recommended: SEV-1 because checkout-api is unavailable" in incident.description
    triaged = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.TRIAGED))
    assert triaged.data["recommended"] == triaged.data["chosen"] == 1


def test_choosing_another_severity_needs_a_reason(client, responder):
    service = make_service("search")
    answers = {f"svc-{service.id}": "degraded", "reach": "some", "data_loss": "no", "security": "no",
               "exposure": "no", "workaround": "yes"}
    base = {**answers, "step": "4", "service_id": str(service.id), "title": "Search slow"}
    refused = client.post("/triage/new", data={**base, "severity": "2"})
    assert refused.status_code == 400 and "Say why SEV-2 and not the recommended SEV-3." in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0
    client.post("/triage/new", data={**base, "severity": "2", "reason": "a big customer escalated"})
    incident = db.session.scalar(sa.select(Incident))
    assert incident.severity == 2 and "Chosen: SEV-2, because a big customer escalated." in incident.description


def test_each_step_checks_its_answers_and_back_keeps_them(client, responder):
    service = make_service("search")
    nothing = client.post("/triage/new", data={f"svc-{service.id}": "operational", "step": "0"})
    assert nothing.status_code == 400 and "Mark at least one affected service" in nothing.get_data(as_text=True)
    no_reach = client.post("/triage/new", data={f"svc-{service.id}": "degraded", "step": "1"})
    assert no_reach.status_code == 400 and "Choose one." in no_reach.get_data(as_text=True)
    back = client.post("/triage/new", data={f"svc-{service.id}": "degraded", "reach": "few", "step": "2", "back": "1"})
    html = back.get_data(as_text=True)
    assert 'value="few" checked' in html and f'name="svc-{service.id}" value="degraded"' in html


def test_the_wizard_is_a_fragment_for_htmx(client, responder):
    make_service("search")
    answer = client.get("/triage/new", headers={"HX-Request": "true"})
    assert answer.get_data(as_text=True).lstrip().startswith('<div id="wizard">')


def test_the_service_matrix_raises_the_recommendation(client, responder):
    service = make_service("ledger")
    triage.set_matrix(actor(make_user(Role.ADMIN)), service, {"bug": 1, "degraded": None, "unavailable": 1})
    db.session.commit()
    answers = {f"svc-{service.id}": "bug", "reach": "few", "data_loss": "no", "security": "no",
               "exposure": "no", "workaround": "yes"}
    html = walk(client, answers, 4).get_data(as_text=True)
    assert "SEV-1 because the ledger matrix says behaving wrongly is SEV-1" in html


def test_the_severity_model_is_editable_and_drives_objectives(client, app):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    guide = client.get("/severity").get_data(as_text=True)
    assert "Complete outage of a core service" in guide and "5m 00s" in guide
    answer = client.post("/severity/1", data={"label": "Critical", "definition": "Everything is on fire.",
                                               "impact_criteria": "x", "examples": "y", "response_minutes": "10",
                                               "resolution_minutes": "90", "update_cadence_minutes": "20",
                                               "postmortem": "required", "urgency": "high",
                                               "owner_id": str(admin.id), "next_review_on": "2027-02-27"})
    assert answer.status_code == 303
    db.session.expire_all()
    levels.forget()
    assert levels.level(1).response_minutes == 10 and levels.level(1).definition == "Everything is on fire."
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="x", severity=1, now=T0)
    assert incident.response_due_at == T0 + timedelta(minutes=10)
    bad = client.post("/severity/1", data={"label": "Critical", "response_minutes": "90", "resolution_minutes": "10",
                                            "postmortem": "required", "urgency": "high"})
    assert bad.status_code == 400 and "Resolution cannot be due before the response." in bad.get_data(as_text=True)


def test_admins_set_who_else_each_severity_pages(client, app):
    from app.audit.models import AuditEntry
    login(client, make_user(Role.ADMIN))
    lead = make_user(Role.RESPONDER, name="Rosa Lead")
    team = make_team("Leadership")
    page = client.get("/severity/2").get_data(as_text=True)
    assert "None: only the service's escalation policy pages." in page
    assert client.post("/severity/2/triggers", data={"target": f"user:{lead.id}", "on": "open"}).status_code == 303
    assert client.post("/severity/2/triggers", data={"target": "managers", "on": "breach"}).status_code == 303
    again = client.post("/severity/2/triggers", data={"target": f"user:{lead.id}", "on": "open"})
    assert again.status_code == 409 and "already there" in again.get_data(as_text=True)
    for bad in ({"target": "team:999", "on": "open"}, {"target": f"team:{team.id}", "on": "someday"},
                {"target": "nobody", "on": "open"}):
        assert client.post("/severity/2/triggers", data=bad).status_code == 400
    rows = db.session.scalars(sa.select(SeverityTrigger).where(SeverityTrigger.severity == 2)
                              .order_by(SeverityTrigger.id)).all()
    assert [(t.kind, t.on, t.user_id) for t in rows] == [("user", "open", lead.id), ("managers", "breach", None)]
    guide = client.get("/severity").get_data(as_text=True)
    assert ("Rosa Lead as it opens; the managers of the service&#39;s team when its response objective is "
            "breached") in guide

    # The trigger pages for a new SEV-2 beside the policy.
    reachable(lead)
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Slow", severity=2, now=T0)
    db.session.commit()
    assert any("SEV-2 triggers: paging Rosa Lead" in e.text for e in incident_events(incident))

    assert client.post(f"/severity/2/triggers/{rows[0].id}/remove").status_code == 303
    assert client.post(f"/severity/3/triggers/{rows[1].id}/remove").status_code == 404  # not SEV-3's
    assert [t.kind for t in db.session.scalars(sa.select(SeverityTrigger).where(SeverityTrigger.severity == 2))] \
        == ["managers"]
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("severity.%"))).all()
    assert sorted(actions) == ["severity.add_trigger", "severity.add_trigger", "severity.remove_trigger"]


def incident_events(incident):
    return db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)).all()


def test_the_audience_guides_walk_people_to_their_pages(client, responder):
    for slug, expected in [("new-team-member", "/profile/paging"), ("incident-commander", "Assign roles"),
                           ("manager", "blameless")]:
        page = client.get(f"/guides/{slug}")
        assert page.status_code == 200 and expected in page.get_data(as_text=True)
    assert client.get("/guides/nobody").status_code == 404


@pytest.mark.db
def test_a_response_breach_is_recorded_once_and_pages_management(app):
    clock.set(T0)
    manager = reachable(make_user(Role.RESPONDER, name="Priya"))
    team = make_team("Payments")
    from app.auth import service as people
    people.add_member(SYSTEM, team, manager, is_manager=True)
    service = make_service("checkout-api", team=team)
    db.session.execute(sa.delete(SeverityTrigger))  # only this one (not the install's defaults)
    db.session.add(SeverityTrigger(severity=1, kind="managers", on="breach"))
    db.session.commit()
    incident = incidents.open_incident(SYSTEM, service=service, title="Down", severity=1, now=T0)
    db.session.commit()
    engine = Engine(all_jobs(), holder="t")
    clock.set(T0 + timedelta(minutes=5))
    assert "response_breaches" not in engine.cycle().done
    clock.set(T0 + timedelta(minutes=5, seconds=1))
    assert engine.cycle().done.get("response_breaches") == 1
    engine.cycle()
    events = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.OBJECTIVE_BREACHED)).all()
    assert len(events) == 1 and "not acknowledged within 5 minutes (SEV-1)" in events[0].text
    paged = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.PAGED,
                                                             IncidentEvent.data["user_id"].as_integer() == manager.id))
    assert paged is not None and "response objective breached" in paged.text


def test_acknowledging_in_time_means_no_breach(app):
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="x", severity=2, now=T0)
    incidents.acknowledge(SYSTEM, incident, T0 + timedelta(minutes=3))
    db.session.commit()
    clock.set(T0 + timedelta(hours=1))
    assert "response_breaches" not in Engine(all_jobs(), holder="t").cycle().done


def test_reclassification_history_keeps_first_and_final(client, responder):
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="x", severity=3, now=T0)
    incidents.change_severity(actor(responder), incident, 1, T0 + timedelta(minutes=1), reason="worse than thought")
    incidents.change_severity(actor(responder), incident, 2, T0 + timedelta(minutes=9), reason="partly mitigated")
    db.session.commit()
    assert (incident.initial_severity, incident.severity) == (3, 2)
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Severity history" in html and "worse than thought" in html and "partly mitigated" in html
    assert "SEV-3 → SEV-1" in html and "SEV-1 → SEV-2" in html
