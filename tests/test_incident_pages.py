"""The incident list and page: whole, as live fragments, and every action as a form post."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentEvent, Status
from tests.factories import SYSTEM, login, make_service, make_user

T0 = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)
HX = {"HX-Request": "true"}


@pytest.fixture
def service(app):
    clock.set(T0)
    return make_service("checkout-api")


@pytest.fixture
def responder(client):
    user = make_user(Role.RESPONDER, name="Dana Okafor", time_zone="UTC")
    login(client, user)
    return user


def declare(service, title="Checkout fails", severity=2, at=T0):
    incident = incidents.open_incident(SYSTEM, service=service, title=title, severity=severity, now=at)
    db.session.commit()
    return incident


def test_list_shows_open_incidents_most_urgent_first(client, service, responder):
    minor = declare(service, "Slow search", 3)
    critical = declare(service, "Checkout down", 1, at=T0 + timedelta(minutes=1))
    acked = declare(service, "Login errors", 1, at=T0 + timedelta(minutes=2))
    incidents.acknowledge(SYSTEM, acked, T0 + timedelta(minutes=3))
    done = declare(service, "Old thing", 2)
    incidents.resolve(SYSTEM, done, T0 + timedelta(minutes=4))
    db.session.commit()
    html = client.get("/incidents/").get_data(as_text=True)
    positions = [html.index(title) for title in ("Checkout down", "Slow search", "Login errors")]
    assert positions == sorted(positions) and "Old thing" not in html
    assert "1 acknowledged" in html and "2 triggered" in html
    everything = client.get("/incidents/?status=all").get_data(as_text=True)
    assert "Old thing" in everything
    assert (minor.id, critical.id) != (None, None)


def test_list_filters(client, service, responder):
    other = make_service("payments-db")
    declare(service, "Checkout down", 1)
    declare(other, "Replication lag", 3)
    assert "Replication lag" not in client.get(f"/incidents/?service_id={service.id}").get_data(as_text=True)
    html = client.get("/incidents/?severity=3").get_data(as_text=True)
    assert "Replication lag" in html and "Checkout down" not in html
    html = client.get("/incidents/?q=replication").get_data(as_text=True)
    assert "Replication lag" in html and "Checkout down" not in html
    html = client.get("/incidents/?severity=1,3&status=bogus").get_data(as_text=True)
    assert "Replication lag" in html and "Checkout down" in html


def test_the_live_list_answers_204_until_something_changes(client, service, responder):
    incident = declare(service)
    fragment = client.get("/incidents/", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="incident-list"') and "<html" not in fragment
    poll_url = fragment.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "since=" in poll_url
    assert client.get(poll_url, headers=HX).status_code == 204
    clock.set(T0 + timedelta(seconds=5))
    incidents.acknowledge(SYSTEM, incident, clock.now())
    db.session.commit()
    changed = client.get(poll_url, headers=HX)
    assert changed.status_code == 200 and "acknowledged" in changed.get_data(as_text=True)


def test_the_live_incident_page_answers_204_until_the_incident_changes(client, service, responder):
    incident = declare(service)
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert f"v={incident.version}" in page and "Acknowledge" in page
    assert client.get(f"/incidents/{incident.id}?v={incident.version}", headers=HX).status_code == 204
    incidents.add_note(SYSTEM, incident, "Seen from the edge too", T0)
    db.session.commit()
    fresh = client.get(f"/incidents/{incident.id}?v={incident.version - 1}", headers=HX)
    html = fresh.get_data(as_text=True)
    assert fresh.status_code == 200 and "Seen from the edge too" in html and "<html" not in html
    assert html.lstrip().startswith('<div id="incident-live"')


def test_page_shows_objectives_alerts_and_timeline(client, service, responder):
    incident = declare(service, severity=1)
    clock.set(T0 + timedelta(minutes=2))
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Response" in html and "3m 00s left" in html  # SEV-1: 5 minutes to respond
    assert f'data-due="{(T0 + timedelta(minutes=5)).isoformat()}"' in html
    clock.set(T0 + timedelta(minutes=7))
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "objective-overdue" in html and "2m 00s late" in html
    assert "SEV-1 incident opened on checkout-api" in html


def test_acknowledge_resolve_reopen_by_plain_form_posts(client, service, responder):
    incident = declare(service)
    answer = client.post(f"/incidents/{incident.id}/acknowledge")
    assert answer.status_code == 303 and answer.headers["Location"] == f"/incidents/{incident.id}"
    assert db.session.get(Incident, incident.id).acknowledged_by_id == responder.id
    client.post(f"/incidents/{incident.id}/resolve", data={"note": "rolled back"})
    assert db.session.get(Incident, incident.id).status == Status.RESOLVED
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Resolved by Dana Okafor: rolled back" in page and "Reopen" in page
    client.post(f"/incidents/{incident.id}/reopen", data={"reason": "errors again"})
    assert db.session.get(Incident, incident.id).status == Status.TRIGGERED


def test_htmx_actions_answer_with_the_live_block(client, service, responder):
    incident = declare(service)
    answer = client.post(f"/incidents/{incident.id}/acknowledge", headers=HX)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and html.lstrip().startswith('<div id="incident-live"')
    assert "Acknowledged by Dana Okafor" in html


def test_notes_are_markdown_sanitised_and_errors_come_back_beside_the_field(client, service, responder):
    incident = declare(service)
    client.post(f"/incidents/{incident.id}/notes", data={"text": "**Rollback** <script>alert(1)</script>"})
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "<strong>Rollback</strong>" in html and "<script>alert(1)" not in html
    empty = client.post(f"/incidents/{incident.id}/notes", data={"text": ""}, headers=HX)
    assert empty.status_code == 400 and empty.headers["HX-Retarget"] == "#note-form"
    assert "The note is empty." in empty.get_data(as_text=True)
    plain = client.post(f"/incidents/{incident.id}/notes", data={"text": "   "})
    assert plain.status_code == 400 and "The note is empty." in plain.get_data(as_text=True)


def test_severity_change_needs_a_reason(client, service, responder):
    incident = declare(service)
    refused = client.post(f"/incidents/{incident.id}/severity", data={"severity": "1", "reason": ""})
    assert refused.status_code == 400 and "Say why the severity changes." in refused.get_data(as_text=True)
    client.post(f"/incidents/{incident.id}/severity", data={"severity": "1", "reason": "every customer"})
    assert db.session.get(Incident, incident.id).severity == 1


def test_merge_from_the_page(client, service, responder):
    target, source = declare(service, "Checkout down"), declare(service, "Payments timeouts")
    answer = client.post(f"/incidents/{source.id}/merge", data={"target": str(target.id)})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/incidents/{target.id}"
    assert db.session.get(Incident, source.id).merged_into_id == target.id
    assert f"Merged into" in client.get(f"/incidents/{source.id}").get_data(as_text=True)
    missing = client.post(f"/incidents/{target.id}/merge", data={"target": "9999"})
    assert missing.status_code == 400 and "There is no incident #9999." in missing.get_data(as_text=True)


def test_milestones_in_the_viewers_time_zone(client, service):
    user = make_user(Role.RESPONDER, time_zone="Europe/Lisbon")  # UTC+0 in winter, fine; use New York for an offset
    user.time_zone = "America/New_York"
    db.session.commit()
    login(client, user)
    incident = declare(service)
    clock.set(T0 + timedelta(hours=1))
    form = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert 'value="2026-11-26T22:12"' in form  # 03:12 UTC is 22:12 the day before in New York
    answer = client.post(f"/incidents/{incident.id}/milestones", data={
        "impact_started_at": "2026-11-26T22:00", "detected_at": "2026-11-26T22:12", "acknowledged_at": "",
        "mitigated_at": "", "resolved_at": ""})
    assert answer.status_code == 303
    assert db.session.get(Incident, incident.id).impact_started_at == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    bad = client.post(f"/incidents/{incident.id}/milestones", data={
        "impact_started_at": "2026-11-26T22:30", "detected_at": "2026-11-26T22:12"})
    assert bad.status_code == 400 and "Detected cannot be before impact started." in bad.get_data(as_text=True)


def test_declare_by_hand(client, service, responder):
    form = client.get("/incidents/new")
    assert form.status_code == 200 and "checkout-api" in form.get_data(as_text=True)
    answer = client.post("/incidents/new", data={"title": "Customers report slow checkout", "service_id": service.id,
                                                  "severity": "2", "description": "From support"})
    assert answer.status_code == 303
    incident = db.session.scalar(sa.select(Incident))
    assert (incident.title, incident.source, incident.declared_by_id) == ("Customers report slow checkout", "web", responder.id)
    refused = client.post("/incidents/new", data={"title": "", "service_id": service.id, "severity": "2"})
    assert refused.status_code == 400 and db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 1


def test_viewers_see_incidents_but_get_no_buttons(client, service):
    incident = declare(service)
    login(client, make_user(Role.VIEWER))
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Checkout fails" in html and ">Acknowledge<" not in html and "Add a note" not in html
    before = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent))
    assert client.post(f"/incidents/{incident.id}/acknowledge").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent)) == before


def test_alert_pages(client, service, responder):
    from app.alerts.ingest import AlertEvent, process
    outcome = process(AlertEvent(routing_key="", action="trigger", dedup_key="k1", summary="Disk 95% on db-1",
                                 source="db-1", severity="warning", custom_details={"mount": "/var"},
                                 links=[{"href": "javascript:alert(1)", "text": "evil"},
                                        {"href": "https://grafana.example.com/d/disk", "text": "Disk dashboard"}]),
                      service, None, T0, SYSTEM)
    db.session.commit()
    listing = client.get("/alerts").get_data(as_text=True)
    assert "Disk 95% on db-1" in listing and f"#{outcome.incident.id}" in listing
    detail = client.get(f"/alerts/{outcome.alert.id}").get_data(as_text=True)
    assert "Disk dashboard" in detail and "javascript:" not in detail and "\"mount\": \"/var\"" in detail
    page = client.get(f"/incidents/{outcome.incident.id}").get_data(as_text=True)
    assert "Disk dashboard" in page and "javascript:" not in page
