"""The war room and communications pages: whole, as htmx fragments, and every form."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.comms import stakeholders
from app.comms.models import CommsUpdate, StakeholderList, Webhook
from app.extensions import db
from app.incidents import roles
from app.incidents import service as incidents
from app.notify.models import Notification
from tests.factories import SYSTEM, login, make_service, make_team, make_user, reachable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


@pytest.fixture
def responder(app, client):
    clock.set(T0)
    user = make_user(Role.RESPONDER, name="Dana Okafor")
    login(client, user)
    return user


@pytest.fixture
def admin(app, client):
    clock.set(T0)
    user = make_user(Role.ADMIN, name="Avery Admin")
    login(client, user)
    return user


@pytest.fixture
def incident(app):
    clock.set(T0)
    made = incidents.open_incident(SYSTEM, service=make_service("checkout-api"), title="Checkout fails", severity=1,
                                   now=T0)
    db.session.commit()
    return made


@pytest.fixture
def execs(app):
    row = stakeholders.create_list(SYSTEM, T0, name="Executives", severities=[1])
    stakeholders.add_member(SYSTEM, row, T0, name="Chair", email="chair@board.example")
    db.session.commit()
    return row


def test_the_incident_page_is_the_war_room(client, responder, incident):
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    for words in ("No bridge or chat yet", "Incident Commander", "Communications Lead", "No tasks yet",
                  "No report yet", "Next update", "Communication plan", "Assign or hand over a role",
                  "Bring in another team", "Post a tactical report", "This is a decision", "I'm joining"):
        assert words in html, words
    live = client.get(f"/incidents/{incident.id}?v=0", headers=HX)
    assert live.status_code == 200 and 'id="incident-live"' in live.get_data(as_text=True)
    assert "Assign or hand over a role" not in live.get_data(as_text=True)  # forms stay outside the live block
    assert client.get(f"/incidents/{incident.id}?v={incident.version}", headers=HX).status_code == 204


def test_assigning_a_role_answers_with_the_live_block(client, responder, incident):
    answer = client.post(f"/incidents/{incident.id}/roles", data={"role": "comms_lead", "user_id": responder.id},
                         headers=HX)
    assert answer.status_code == 200 and "Dana Okafor" in answer.get_data(as_text=True)
    assert roles.holder(incident, "comms_lead") == responder
    assert "Your checklist" in answer.get_data(as_text=True)  # shown to whoever holds the role
    refused = client.post(f"/incidents/{incident.id}/roles", data={"role": "comms_lead", "user_id": ""}, headers=HX)
    assert refused.status_code == 400 and refused.headers["HX-Retarget"] == "#role-form"
    assert "Choose a person." in refused.get_data(as_text=True)


def test_war_room_forms_work_without_javascript_and_say_what_is_wrong(client, responder, incident):
    assert client.post(f"/incidents/{incident.id}/war-room", data={
        "bridge_url": "https://meet.example.com/inc-1", "status_summary": "Rolling back"}).status_code == 303
    bad = client.post(f"/incidents/{incident.id}/war-room", data={"bridge_url": "meet dot example"}, headers=HX)
    assert bad.status_code == 400 and bad.headers["HX-Retarget"] == "#room-form"
    assert "Give an http(s) link" in bad.get_data(as_text=True)
    assert client.post(f"/incidents/{incident.id}/tasks", data={"title": "Roll back", "due_in": "15",
                                                                "owner_id": str(responder.id)}).status_code == 303
    empty = client.post(f"/incidents/{incident.id}/tasks", data={"title": ""}, headers=HX)
    assert empty.status_code == 400 and empty.headers["HX-Retarget"] == "#task-form"
    assert client.post(f"/incidents/{incident.id}/reports", data={"conditions": "502s", "actions": "Rollback",
                                                                  "needs": "A DBA"}).status_code == 303
    assert client.post(f"/incidents/{incident.id}/notes", data={"text": "Roll back", "decision": "y"}).status_code == 303
    html = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    for words in ("Join the bridge", "Rolling back", "Roll back", "A DBA", "Decision"):
        assert words in html, words


def test_asking_another_team_from_the_page(client, responder, incident):
    team = make_team("Platform", members=[reachable(make_user(Role.RESPONDER, name="Sam Keller"))])
    answer = client.post(f"/incidents/{incident.id}/teams", data={"team_id": team.id, "note": "Gateway"}, headers=HX)
    assert answer.status_code == 200 and "Platform" in answer.get_data(as_text=True)
    assert "paging Sam Keller" in answer.get_data(as_text=True)
    assert client.post(f"/incidents/{incident.id}/join", headers=HX).status_code == 200


def test_the_composer_loads_previews_refuses_and_sends(client, responder, incident, execs):
    page = client.get(f"/incidents/{incident.id}/updates/new?template=management").get_data(as_text=True)
    assert "Customer impact: {{ impact }}" in page and 'value="{}" checked'.format(execs.id) in page
    form = {"template": "customer_notice", "stage": "investigating", "subject": "", "body": "",
            "lists": [str(execs.id)]}
    loaded = client.post(f"/incidents/{incident.id}/updates/new", data={**form, "action": "load"}, headers=HX)
    assert loaded.status_code == 200 and "We are investigating an issue." in loaded.get_data(as_text=True)
    form.update(subject="{{ service }} is failing", body="We are on {{ ref }}. Next update by {{ next_update_at }}.")
    preview = client.post(f"/incidents/{incident.id}/updates/new", data={**form, "action": "preview"}, headers=HX)
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "checkout-api is failing" in text
    assert f"We are on #{incident.id}. Next update by 2026-03-02 09:30 UTC." in text and "1 email" in text
    refused = client.post(f"/incidents/{incident.id}/updates/new",
                          data={**form, "body": "Dear {{ customer }}", "action": "send"}, headers=HX)
    assert refused.status_code == 400 and "{{ customer }}, which is not a field" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CommsUpdate)) == 0
    sent = client.post(f"/incidents/{incident.id}/updates/new", data={**form, "action": "send"}, headers=HX)
    assert sent.status_code == 204 and sent.headers["HX-Redirect"] == f"/incidents/{incident.id}"
    [row] = db.session.scalars(sa.select(Notification).where(Notification.purpose == "update")).all()
    assert row.to_address == "chair@board.example" and row.subject == "checkout-api is failing"
    log = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "checkout-api is failing" in log and "on time" in log


def test_viewers_read_the_war_room_but_write_no_updates(client, incident):
    login(client, make_user(Role.VIEWER))
    assert client.get(f"/incidents/{incident.id}").status_code == 200
    assert client.get(f"/incidents/{incident.id}/updates/new").status_code == 403
    assert client.get("/comms").status_code == 200 and client.get("/incidents/roles").status_code == 200


def test_the_overview_lists_templates_lists_and_plans(client, responder, execs):
    html = client.get("/comms").get_data(as_text=True)
    for words in ("Internal technical update", "Management update", "Resolution notice", "Customer notice",
                  "Partner notice", "Regulatory notification", "Social media post", "Press release", "Executives",
                  "SEV-1", "15 min", "the resolution notice"):
        assert words in html, words


def test_admins_keep_stakeholder_lists(client, admin):
    service = make_service("payments-db")
    made = client.post("/stakeholders/new", data={"name": "Partners", "description": "Banks", "external": "y",
                                                  "severities": ["1", "2"], "services": [str(service.id)]})
    assert made.status_code == 303
    row = db.session.scalar(sa.select(StakeholderList))
    assert (row.external, row.severities, [s.name for s in row.services]) == (True, [1, 2], ["payments-db"])
    assert client.post(f"/stakeholders/{row.id}/members", data={"name": "Acme", "email": "ops@acme.example",
                                                                "user_id": ""}).status_code == 303
    twice = client.post(f"/stakeholders/{row.id}/members", data={"email": "OPS@acme.example", "user_id": ""})
    assert twice.status_code == 400 and "already on Partners" in twice.get_data(as_text=True)
    nothing = client.post(f"/stakeholders/{row.id}/members", data={"name": "Ghost", "user_id": ""})
    assert nothing.status_code == 400 and "Give an email address" in nothing.get_data(as_text=True)
    page = client.get(f"/stakeholders/{row.id}").get_data(as_text=True)
    assert "ops@acme.example" in page
    member = row.members[0]
    assert client.post(f"/stakeholders/{row.id}/members/{member.id}/remove").status_code == 303
    assert client.post(f"/stakeholders/{row.id}/delete").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StakeholderList)) == 0


def test_admins_keep_webhooks_templates_plans_and_roles(client, admin):
    for data, said in (({"url": "ftp://hooks.example.com/x"}, "A webhook URL is a full http:// or https:// address."),
                       ({"url": "http://10.1.2.3/x"}, "10.1.2.3 is a private address"),
                       ({"url": "https://hooks.example.com/x", "secret": "hunter2"}, "whsec_ followed by the base64")):
        refused = client.post("/admin/webhooks", data={"name": "Slack", "kind": "slack", **data})
        assert refused.status_code == 400 and said in refused.get_data(as_text=True)
        assert data["url"] in refused.get_data(as_text=True)  # what was typed stays in the form
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0
    assert client.post("/admin/webhooks", data={"name": "Slack", "kind": "slack",
                                                "url": "https://hooks.example.com/T/B/x"}).status_code == 303
    hook = db.session.scalar(sa.select(Webhook))
    assert client.post(f"/admin/webhooks/{hook.id}/toggle").status_code == 303
    db.session.refresh(hook)
    assert not hook.active
    bad = client.post("/admin/comms-templates/customer_notice/edit", data={
        "name": "Customer notice", "audience": "customer", "subject": "x", "body": "Dear {{ name }}", "active": "y",
        "action": "save"})
    assert bad.status_code == 400 and "{{ name }}, which is not a field" in bad.get_data(as_text=True)
    preview = client.post("/admin/comms-templates/customer_notice/edit", data={
        "name": "Customer notice", "audience": "customer", "subject": "x", "body": "About {{ service }}",
        "active": "y", "action": "preview"})
    assert preview.status_code == 200 and "About checkout-api" in preview.get_data(as_text=True)
    assert client.post("/admin/comms-plan/2", data={"items": "15 | Engineering | internal_technical\n"}).status_code == 303
    wrong = client.post("/admin/comms-plan/2", data={"items": "soon | Engineering | nope"})
    assert wrong.status_code == 400 and "Line 1" in wrong.get_data(as_text=True)
    assert "Engineering" in client.get("/comms").get_data(as_text=True)
    assert client.post("/admin/roles/scribe", data={"name": "Scribe", "description": "Notes",
                                                    "checklist": "Note decisions\nNote who joined"}).status_code == 303
    assert roles.definition("scribe").checklist == ("Note decisions", "Note who joined")
    assert client.post("/admin/roles/scribe", data={"restore": "1"}).status_code == 303
    assert roles.definition("scribe").checklist == roles.DEFAULTS[4].checklist


@pytest.mark.db
def test_the_demo_has_stakeholder_lists_and_role_rows_once(app):
    from app.demo import seed_demo
    from app.incidents.roles_models import RoleDefinition
    seed_demo(password="demo password 123")
    seed_demo()
    db.session.commit()
    names = db.session.scalars(sa.select(StakeholderList.name).order_by(StakeholderList.name)).all()
    assert names == ["Customer support", "Executives", "Payment partners"]
    partners = db.session.scalar(sa.select(StakeholderList).where(StakeholderList.name == "Payment partners"))
    assert partners.external and {s.name for s in partners.services} == {"checkout-api", "payments-db"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleDefinition)) == 8
