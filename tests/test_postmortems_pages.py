"""Post-mortem pages over HTTP: every page renders, every form posts (and works
without JavaScript), errors show beside their fields, published means read-only,
print/PDF/Markdown exports, templates and categories for admins."""
from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import IncidentEvent
from app.postmortems import service as postmortems
from app.postmortems.models import (
    ActionItem, ContributingFactor, FactorCategory, FishboneCause, PostmortemStatus, WhyNode,
)
from tests.factories import SYSTEM, actor, login, make_service, make_team, make_user, resolve

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def world(app, client):
    clock.set(T0)
    postmortems.ensure_defaults()  # PostgreSQL tests start from empty tables, without migration 0007's rows
    dana = make_user(Role.RESPONDER, name="Dana Okafor")
    lee = make_user(Role.RESPONDER, name="Lee Tanaka")
    viewer = make_user(Role.VIEWER, name="Vic Viewer")
    admin = make_user(Role.ADMIN, name="Ada Admin")
    team = make_team("Payments", members=[dana, lee])
    service = make_service("checkout-api", team=team)
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails for card payments", severity=2,
                                       now=T0)
    incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=3))
    incidents.add_note(actor(dana), incident, "Connection pool exhausted on payments-db", T0 + timedelta(minutes=9))
    resolve(actor(dana), incident, T0 + timedelta(minutes=50))
    db.session.commit()
    clock.set(T0 + timedelta(hours=2))
    pm = postmortems.for_incident(incident)
    return type("World", (), dict(dana=dana, lee=lee, viewer=viewer, admin=admin, team=team, service=service,
                                  incident=incident, pm=pm))


def csrf(client) -> str:
    return client.csrf_token()


def page_text(answer) -> str:
    return re.sub(r"\s+", " ", answer.get_data(as_text=True))


def section(pm, heading):
    return next(s for s in pm.sections if s.heading == heading)


@pytest.mark.db
def test_the_incident_page_links_the_draft_and_lists_action_items(world, client):
    login(client, world.dana)
    text = page_text(client.get(f"/incidents/{world.incident.id}"))
    assert f'href="/postmortems/{world.pm.id}"' in text and "Draft · Detailed technical" in text
    assert "Action items" in text and "Add an action item" in text
    assert "Start a post-mortem" not in text  # it has one


@pytest.mark.db
def test_a_resolution_on_the_page_gets_its_draft_from_the_engine(world, client):
    """Resolving answers without writing the draft; the engine's next cycle makes it,
    by the person who resolved, and the incident page shows it (it changes the
    incident, so live pages refresh). Meanwhile the page says it is coming. The
    resolution note becomes searchable with it."""
    from app.audit.models import AuditEntry
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    from app.incidents.models import Incident
    incident = incidents.open_incident(SYSTEM, service=world.service, title="Card payments time out", severity=2,
                                       now=clock.now())
    db.session.commit()
    login(client, world.lee)
    answer = client.post(f"/incidents/{incident.id}/resolve", data={"csrf_token": csrf(client),
                                                                   "note": "failed over the gateway"})
    assert answer.status_code in (302, 303)
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert incident.followup_at == clock.now() and postmortems.for_incident(incident) is None
    poll = client.application.config["LIVE_POLL_SECONDS"]
    text = page_text(client.get(f"/incidents/{incident.id}"))
    assert "the draft this severity requires is being prepared" in text
    assert f'hx-trigger="every {poll}s"' in text  # polled as often as an open incident until the draft is there
    assert "failed over the gateway" not in page_text(client.get("/search", query_string={"q": "gateway"}))
    version = incident.version

    clock.advance(timedelta(seconds=2))
    assert Engine(all_jobs(), holder="test").cycle().done.get("resolution_followups") == 1
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    pm = postmortems.for_incident(incident)
    assert pm is not None and pm.owner == world.lee and incident.followup_at is None and incident.version > version
    made = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "postmortem.create",
                                                         AuditEntry.object_id == pm.id))
    assert made.actor_label == "Lee Tanaka"
    text = page_text(client.get(f"/incidents/{incident.id}"))
    assert f'href="/postmortems/{pm.id}"' in text and "being prepared" not in text
    assert f'hx-trigger="every {poll * 10}s"' in text  # then as a resolved one
    assert "Card payments time out" in page_text(client.get("/search", query_string={"q": "gateway"}))
    assert "resolution_followups" not in Engine(all_jobs(), holder="test").cycle().done  # once


@pytest.mark.db
def test_an_incident_reopened_before_its_follow_up_gets_no_draft_until_it_resolves_again(world, client):
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    incident = incidents.open_incident(SYSTEM, service=world.service, title="Queue backlog", severity=1,
                                       now=clock.now())
    incidents.resolve(actor(world.dana), incident, clock.now())
    incidents.reopen(actor(world.dana), incident, clock.now(), reason="Came back")
    db.session.commit()
    engine = Engine(all_jobs(), holder="test")
    assert engine.cycle().done.get("resolution_followups") == 1
    assert postmortems.for_incident(incident) is None and incident.followup_at is None
    login(client, world.dana)
    assert "being prepared" not in page_text(client.get(f"/incidents/{incident.id}"))
    clock.advance(timedelta(minutes=5))
    incidents.resolve(actor(world.dana), incident, clock.now())
    db.session.commit()
    engine.cycle()
    assert postmortems.for_incident(incident).owner == world.dana


@pytest.mark.db
def test_every_page_renders_for_a_viewer_without_forms(world, client):
    login(client, world.viewer)
    pm = world.pm
    for url in ["/postmortems/", f"/postmortems/{pm.id}", f"/postmortems/{pm.id}/agenda",
                f"/postmortems/{pm.id}/history", f"/postmortems/{pm.id}/versions/1", f"/postmortems/{pm.id}/print",
                "/action-items/", "/action-items/mine", "/action-items/board", "/search?q=pool"]:
        answer = client.get(url)
        assert answer.status_code == 200, url
    text = page_text(client.get(f"/postmortems/{pm.id}"))
    assert "Connection pool exhausted on payments-db" in text  # the timeline is in it
    assert "Save Overview" not in text and "Send for review" not in text
    assert client.post(f"/postmortems/{pm.id}/whys", data={"why": "Why?"}).status_code == 403


@pytest.mark.db
def test_writing_a_section_tagging_the_timeline_and_the_rca_by_plain_forms(world, client):
    login(client, world.dana)
    pm = world.pm
    lessons = section(pm, "Lessons learned")
    answer = client.post(f"/postmortems/{pm.id}/sections/{lessons.id}",
                         data={"body": "Watch **pool saturation** before the pool runs out."})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"#section-{lessons.id}")
    note = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == world.incident.id,
                                                            IncidentEvent.kind == "note"))
    assert client.post(f"/postmortems/{pm.id}/events/{note.id}", data={"tag": "diagnosis", "starred": "y"}
                       ).status_code == 303
    answer = client.post(f"/postmortems/{pm.id}/whys", data={"why": "Why did card payments fail?",
                                                             "because": "The database refused connections"})
    first = db.session.scalar(sa.select(WhyNode))
    assert answer.headers["Location"].endswith(f"#why-{first.id}")
    client.post(f"/postmortems/{pm.id}/whys", data={"parent_id": first.id, "why": "Why did it refuse?",
                                                    "because": "The pool was exhausted"})
    client.post(f"/postmortems/{pm.id}/causes", data={"category": "Technology", "text": "Pool fixed at 20"})
    category = db.session.scalar(sa.select(FactorCategory).where(FactorCategory.name == "Capacity"))
    client.post(f"/postmortems/{pm.id}/factors", data={"category_id": category.id, "description": "Pool too small"})
    db.session.expire_all()
    assert [w.parent_id for w in db.session.scalars(sa.select(WhyNode).order_by(WhyNode.id))] == [None, first.id]
    assert db.session.scalar(sa.select(FishboneCause.text)) == "Pool fixed at 20"
    assert db.session.scalar(sa.select(ContributingFactor.description)) == "Pool too small"
    text = page_text(client.get(f"/postmortems/{pm.id}"))
    assert "<strong>pool saturation</strong>" in text
    assert "Key moments" in text and "Diagnosis" in text
    assert "<svg" in text and "Pool fixed at 20" in text
    assert "Because The pool was exhausted" in text
    incident_page = page_text(client.get(f"/incidents/{world.incident.id}"))
    assert "event-tag-diagnosis" in incident_page and "starred" in incident_page


@pytest.mark.db
def test_tagging_with_htmx_answers_with_just_the_entry(world, client):
    login(client, world.dana)
    note = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == world.incident.id,
                                                            IncidentEvent.kind == "note"))
    answer = client.post(f"/postmortems/{world.pm.id}/events/{note.id}", data={"tag": "key_moment"},
                         headers={"HX-Request": "true"})
    assert answer.status_code == 200
    body = answer.get_data(as_text=True).strip()
    assert body.startswith(f'<li id="event-{note.id}"') and "Key moment" in body and "<html" not in body


@pytest.mark.db
def test_form_errors_show_beside_their_fields_and_nothing_is_written(world, client):
    login(client, world.dana)
    pm = world.pm
    answer = client.post(f"/postmortems/{pm.id}/whys", data={"why": "  "})
    assert answer.status_code == 400 and "Ask the question." in page_text(answer)
    answer = client.post(f"/postmortems/{pm.id}/causes", data={"category": "x" * 61, "text": "y"})
    assert answer.status_code == 400
    answer = client.post(f"/postmortems/{pm.id}/submit")
    assert answer.status_code == 400 and "Ask at least one reviewer first." in page_text(answer)
    answer = client.post("/action-items/new", data={"incident_id": world.incident.id, "postmortem_id": pm.id,
                                                    "title": "Alert on pool saturation", "due_on": "",
                                                    "priority": "high", "kind": "detective",
                                                    "ticket_url": "javascript:alert(1)"})
    assert answer.status_code == 400 and "Give a due date." in page_text(answer)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ActionItem)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WhyNode)) == 0


@pytest.mark.db
def test_review_to_published_then_read_only_by_plain_forms(world, client, app):
    pm = world.pm
    login(client, world.dana)  # the owner: she resolved it
    assert pm.owner == world.dana
    client.post(f"/postmortems/{pm.id}/reviewers", data={"reviewers": [world.lee.id]})
    assert client.post(f"/postmortems/{pm.id}/submit").status_code == 303
    reviewer = app.test_client()
    login(reviewer, world.lee)
    text = page_text(reviewer.get(f"/postmortems/{pm.id}"))
    assert "Approve" in text and "In review" in text
    overview = section(pm, "Overview")
    reviewer.post(f"/postmortems/{pm.id}/comments", data={"section_id": overview.id, "body": "Name the release."})
    assert reviewer.post(f"/postmortems/{pm.id}/approve").status_code == 303
    answer = client.post(f"/postmortems/{pm.id}/publish")
    assert answer.status_code == 303
    db.session.expire_all()
    assert pm.status == PostmortemStatus.PUBLISHED
    text = page_text(client.get(f"/postmortems/{pm.id}"))
    assert "It is read-only" in text and "Save Overview" not in text and "Reopen to amend" in text
    answer = client.post(f"/postmortems/{pm.id}/sections/{overview.id}", data={"body": "sneaky"})
    assert answer.status_code == 409 and "read-only" in page_text(answer)
    answer = client.post(f"/postmortems/{pm.id}/reopen", data={"reason": "Add the vendor report"})
    assert answer.status_code == 303
    history = page_text(client.get(f"/postmortems/{pm.id}/history"))
    assert "Reopened: Add the vendor report" in history and "Published" in history
    assert "Changes since version" in page_text(client.get(f"/postmortems/{pm.id}/versions/3"))


@pytest.mark.db
def test_print_view_pdf_and_markdown(world, client):
    login(client, world.dana)
    pm = world.pm
    lessons = section(pm, "Lessons learned")
    postmortems.update_section(actor(world.dana), pm, lessons, "Alert on pool saturation at 80%.", clock.now())
    postmortems.add_cause(actor(world.dana), pm, clock.now(), category="Process", text="No load test before release")
    db.session.commit()
    printed = client.get(f"/postmortems/{pm.id}/print")
    assert printed.status_code == 200
    html = printed.get_data(as_text=True)
    assert "postmortem-print.css" in html and "<nav" not in html and "<form" not in html and "<svg" in html

    for paper, width in (("a4", 595), ("letter", 612)):
        answer = client.get(f"/postmortems/{pm.id}/postmortem.pdf?paper={paper}")
        assert answer.status_code == 200 and answer.mimetype == "application/pdf"
        assert answer.headers["Content-Disposition"].startswith("attachment;")
        reader = PdfReader(io.BytesIO(answer.data))
        assert round(float(reader.pages[0].mediabox.width)) == width
        text = " ".join(page.extract_text() for page in reader.pages)
        text = re.sub(r"\s+", " ", text)
        assert "Checkout fails for card payments" in text
        assert "Alert on pool saturation at 80%." in text
        assert "No load test before release" in text  # the fishbone's text, from the SVG
        assert "Connection pool exhausted on payments-db" in text  # the timeline

    md = client.get(f"/postmortems/{pm.id}/postmortem.md")
    assert md.mimetype == "text/markdown" and md.headers["Content-Disposition"].endswith('.md"')
    body = md.get_data(as_text=True)
    assert body.startswith("# Post-mortem: Checkout fails for card payments\n")
    assert "## Lessons learned\n\nAlert on pool saturation at 80%." in body


@pytest.mark.db
def test_starting_a_post_mortem_for_a_sev3_from_the_incident_page(world, client):
    login(client, world.lee)
    incident = incidents.open_incident(SYSTEM, service=world.service, title="Slow search", severity=3,
                                       now=clock.now())
    resolve(actor(world.lee), incident, clock.now())
    db.session.commit()
    text = page_text(client.get(f"/incidents/{incident.id}"))
    assert "Start a post-mortem" in text
    answer = client.post("/postmortems/new", data={"incident_id": incident.id, "template_id": ""})
    pm = postmortems.for_incident(incident)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/postmortems/{pm.id}"
    assert pm.template_name == "Lightweight" and pm.owner == world.lee and not pm.required
    again = client.post("/postmortems/new", data={"incident_id": incident.id, "template_id": ""})
    assert again.headers["Location"] == f"/postmortems/{pm.id}"


@pytest.mark.db
def test_meeting_agenda_and_public_summary(world, client):
    login(client, world.dana)
    pm = world.pm
    answer = client.post(f"/postmortems/{pm.id}/meeting", data={"at": "2026-03-04T15:00", "location": "Room 4"})
    assert answer.status_code == 303
    db.session.expire_all()
    assert pm.meeting_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Dana's zone is UTC
    agenda = page_text(client.get(f"/postmortems/{pm.id}/agenda"))
    for heading in ("Timeline walk-through", "Analysis", "Action items", "Lessons learned"):
        assert heading in agenda
    answer = client.post(f"/postmortems/{pm.id}/public-summary",
                         data={"public_summary": "Card payments failed for 50 minutes.", "public": "y"})
    assert answer.status_code == 409  # not published yet
    answer = client.post(f"/postmortems/{pm.id}/public-summary",
                         data={"public_summary": "Card payments failed for 50 minutes."})
    assert answer.status_code == 303


@pytest.mark.db
def test_admins_edit_templates_and_categories(world, client):
    login(client, world.admin)
    assert "Detailed technical" in page_text(client.get("/admin/postmortem-templates"))
    template = postmortems.template_by_key("quick_retrospective")
    form = page_text(client.get(f"/admin/postmortem-templates/{template.id}/edit"))
    assert "## What went well" in form and "## What we&#39;ll change [action_items]" in form
    answer = client.post(f"/admin/postmortem-templates/{template.id}/edit", data={
        "name": "Quick retrospective", "description": "Three questions.", "active": "y",
        "sections": "## What went well\n\n## What didn't\n\n## What we'll change [action_items]\n\n## Kudos\nThanks.\n"})
    assert answer.status_code == 303
    db.session.expire_all()
    assert [s.heading for s in template.sections][-1] == "Kudos"
    answer = client.post("/admin/postmortem-templates/new", data={"name": "Security", "sections": "## X [nope]"})
    assert answer.status_code == 400 and "not a section kind" in page_text(answer)
    answer = client.post("/admin/factor-categories", data={"name": "Security", "description": "A breach."})
    assert answer.status_code == 303
    assert "Security" in page_text(client.get("/admin/factor-categories"))
    login(client, world.dana)
    assert client.get("/admin/postmortem-templates").status_code == 403


@pytest.mark.db
def test_the_list_shows_overdue_and_missing_post_mortems(world, client):
    login(client, world.viewer)
    clock.set(datetime(2026, 3, 12, 9, 0, tzinfo=UTC))  # due 2026-03-09: overdue
    text = page_text(client.get("/postmortems/"))
    assert "Checkout fails for card payments" in text and "Overdue" in text
    # A severity raised after resolving: required, and none yet.
    other = incidents.open_incident(SYSTEM, service=world.service, title="Ledger drift", severity=3, now=clock.now())
    resolve(SYSTEM, other, clock.now())
    other.severity = 1
    db.session.commit()
    assert "Required and not started" in page_text(client.get("/postmortems/"))
    assert date(2026, 3, 9) == world.pm.due_on
    other.followup_at = clock.now()  # resolved again a moment ago: the engine is about to write it
    db.session.commit()
    assert "Required and not started" not in page_text(client.get("/postmortems/"))


def test_a_meeting_in_the_year_9999_is_refused_beside_the_field(world, client):
    """Late 9999 in a zone west of UTC is past what a time can hold once in UTC (make
    hostile found it answering 500): the form refuses years outside 1900–2999."""
    world.dana.time_zone = "America/New_York"
    db.session.commit()
    login(client, world.dana)
    answer = client.post(f"/postmortems/{world.pm.id}/meeting", data={"at": "9999-12-31T20:00"})
    assert answer.status_code == 400 and "between the years 1900 and 2999" in page_text(answer)
    db.session.expire_all()
    assert db.session.get(type(world.pm), world.pm.id).meeting_at is None
