"""Hostile input, markup: HTML and script typed into every text field people fill,
then read back everywhere it is shown.

A fresh demo organisation gets the same payload (tests/hostile.py PAYLOADS, each
value tagged with the field it went into) in its incident titles, descriptions,
notes, tasks, war room, tactical reports, post-mortem sections, whys, causes,
factors, comments, details and public summary, action items, communication
templates, stakeholder lists and updates, status page names, components, groups,
incident and maintenance updates, service, team, schedule and policy names, and
people's names; through the app's own service functions, as its forms would. Then
every page an admin can reach from the home page, and every public page, feed and
JSON document, is read and checked:

- HTML and XML: nothing in them would run (no inline script, no event handler
  attribute, no javascript: URL, no frame), and each field is shown as the text
  that was typed where it is expected (so it is there, escaped, not dropped);
  Markdown fields are sanitised HTML.
- The Atom feed parses, and its HTML content holds nothing that would run either.
- JSON is served as JSON and gives the text back as typed.
- Emails are plain text with one-line subjects; SMS and CSV have the text as typed
  (never HTML-escaped), the CSV with formulas defused.
- The post-mortem's printable page and PDF, and the insights report and its PDF.
"""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Team, User
from app.comms import library, stakeholders, updates, webhooks
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation import policies
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.incidents import roles, warroom
from app.incidents import service as incidents
from app.insights import drills
from app.oncall import service as oncall
from app.oncall.models import Schedule
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import Postmortem
from app.services import maintenance
from app.services import service as services
from app.services.models import Service
from app.statuspage import maintenance as status_maintenance
from app.statuspage import service as status_page
from app.statuspage import subscribers
from app.statuspage.models import Component
from tests.conftest import provider_config
from tests.factories import login
from tests.hostile import (
    FULL, HOSTILE_TEXT, PAYLOADS, T0, Page, crawl, database_url, demo_template, tally,  # noqa: F401
)

# Fast: script and an image with a handler in every field. Full: each payload alone too.
TEXTS = [HOSTILE_TEXT, *PAYLOADS] if FULL else [HOSTILE_TEXT]
SLOW = {"postmortems.pdf", "insights.monthly_report_pdf"}
KEY = "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"  # the demo's checkout-api integration key


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


def cycle(at):
    clock.set(at)
    report = Engine(all_jobs(), holder="hostile").cycle()
    assert not report.errors, report.errors
    db.session.commit()


class Typed(dict):
    """tag → the value typed into that field: the payload and the tag, so a page that
    shows it says which field it came from."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def __call__(self, tag: str, *, template: bool = False) -> str:
        value = self[tag] = f"{self.text} {tag}"
        # A communication template is a template: its own text is kept literal.
        return "{% raw %}" + value + "{% endraw %}" if template else value


def build(typed: Typed) -> SimpleNamespace:
    """The demo organisation with `typed` in every text field, through the service
    functions the forms call."""
    now = T0
    clock.set(now)
    admin_user = db.session.get(User, 1)
    people.update_user(Actor.system("hostile"), admin_user, name=typed("admin-name"))
    admin = Actor.for_user(admin_user)
    responder_user = db.session.get(User, 2)
    people.update_user(admin, responder_user, name=typed("person-name"))
    responder = Actor.for_user(responder_user)
    team = db.session.get(Team, 1)
    people.update_team(admin, team, name=typed("team-name"), description=typed("team-description"))
    service = db.session.get(Service, 1)
    services.update_service(admin, service, name=typed("service-name"), description=typed("service-description"),
                            team_id=team.id, severity_mapping=service.severity_mapping)
    schedule = db.session.get(Schedule, 1)
    oncall.update_schedule(admin, schedule, now=now, name=typed("schedule-name"),
                           description=typed("schedule-description"))
    policy = db.session.scalar(sa.select(EscalationPolicy).order_by(EscalationPolicy.id))
    policies.update_policy(admin, policy, name=typed("policy-name"), description=typed("policy-description"),
                           repeat=policy.repeat, now=now)

    # The status page: its name and about text, a group, a component of the service.
    status_page.update_settings(admin, now, name=typed("page-name"), about=typed("page-about"))
    group = status_page.create_group(admin, name=typed("group-name"), now=now, description=typed("group-description"))
    component = db.session.get(Component, 1)
    status_page.update_component(admin, component, now, name=typed("component-name"),
                                 description=typed("component-description"), group_id=group.id)
    reader = subscribers.subscribe("email", "reader@example.com", now)
    subscribers.confirm(subscribers.token(db.session.scalar(
        sa.select(subscribers.Subscriber).where(subscribers.Subscriber.address == "reader@example.com")), "confirm"),
        now)
    del reader

    # Communication: a template, a stakeholder list with an outside member, a Slack webhook.
    template = library.save(admin, None, now, name=typed("template-name"), audience="internal_technical",
                            description=typed("template-description"),
                            subject="{{ title }} " + typed("template-subject", template=True),
                            body="{{ summary }}\n\n" + typed("template-body", template=True))
    executives = stakeholders.create_list(admin, now, name=typed("list-name"), description=typed("list-description"),
                                          send_sms=True)
    stakeholders.add_member(admin, executives, now, name=typed("member-name"), email="chair@board.example",
                            phone="+15557000003")
    slack = webhooks.create_webhook(admin, now, name=typed("webhook-name"), kind="slack",
                                    url="https://hooks.slack.example/services/T0/B0/x")
    db.session.commit()

    roles.save_definition(admin, roles.COMMANDER, now, name=typed("role-name"), description=typed("role-description"),
                          checklist=[typed("role-checklist")])
    pm_template = postmortems.save_template(admin, None, name=typed("pm-template-name"), description=typed("pm-template-description"),
                              sections_text=f"## {typed('pm-template-heading')}\n{typed('pm-template-guidance')}",
                              active=True, now=now)

    # The incident, and the response to it.
    incident = incidents.open_incident(responder, service=service, title=typed("incident-title"), severity=1, now=now,
                                       description=typed("incident-description"))
    incidents.add_note(responder, incident, typed("note"), now)
    incidents.add_note(responder, incident, typed("decision"), now, decision=True)
    warroom.update_room(responder, incident, now, status_summary=typed("war-room-summary"),
                        impact=typed("war-room-impact"), bridge_phone=typed("bridge-phone")[:100])
    warroom.add_task(responder, incident, now, title=typed("task"), owner_id=responder_user.id)
    warroom.report(responder, incident, now, conditions=typed("report-conditions"), actions=typed("report-actions"),
                   needs=typed("report-needs"), executive_summary=typed("report-summary"))
    roles.assign(admin, incident, roles.COMMANDER, responder_user, now)
    db.session.commit()
    updates.send(responder, incident, updates.Draft(template_key=template.key, stage="investigating",
                                                   subject=template.subject, body=template.body,
                                                   list_ids=[executives.id], webhook_ids=[slack.id]), now)
    status_page.publish_update(responder, incident, "investigating", typed("public-update"), now,
                               title=typed("public-title"), components={component.id: "major_outage"})
    db.session.commit()

    # Maintenance, announced on the status page.
    window = maintenance.schedule(admin, title=typed("maintenance-title"), starts_at=now + timedelta(hours=2),
                              ends_at=now + timedelta(hours=4), services=[service], now=now,
                              description=typed("maintenance-description"), public=True)
    status_maintenance.post_update(admin, window, typed("maintenance-update"), now)

    # A drill (an exercise incident) with its scenario.
    drill = drills.start_drill(admin, service=service, title=typed("drill-title"), severity=3, now=now,
                               scenario=typed("drill-scenario"))
    db.session.commit()

    # The demo's draft post-mortem (incident #1, on the status page): every part of it.
    pm = db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == 1))
    postmortems.update_details(admin, pm, now, title=typed("postmortem-title"),
                               problem_statement=typed("problem-statement"),
                               customers_affected=typed("customers-affected"), cost=typed("cost"))
    for n, section in enumerate(pm.sections):
        postmortems.update_section(admin, pm, section, f"{typed(f'section-{n}')}\n\n- {typed(f'section-{n}-item')}",
                                   now)
    first = postmortems.add_why(admin, pm, now, why=typed("why"), because=typed("because"))
    postmortems.add_why(admin, pm, now, why=typed("why-2"), because=typed("because-2"), parent=first)
    postmortems.add_cause(admin, pm, now, category="Process", text=typed("fishbone-cause"))
    category = postmortems.add_factor_category(admin, name=typed("factor-category"), now=now,
                                               description=typed("factor-category-description"))
    postmortems.add_factor(admin, pm, now, category_id=category.id, description=typed("factor"))
    postmortems.add_comment(admin, pm, now, body=typed("comment"))
    item = actions.create_item(admin, pm.incident, now, title=typed("action-item"), due_on=date(2026, 12, 4),
                               owner_id=responder_user.id, description=typed("action-item-description"),
                               postmortem=pm)
    db.session.commit()
    postmortems.submit_for_review(admin, pm, now, reviewers=[admin_user])
    postmortems.approve(admin, pm, now)
    postmortems.publish(admin, pm, now)
    postmortems.set_public_summary(admin, pm, now, text=typed("public-summary"), public=True)
    db.session.commit()
    return SimpleNamespace(incident=incident, pm=pm, item=item, drill=drill, window=window, team=team,
                           service=service, schedule=schedule, policy=policy, component=component, group=group,
                           template=template, executives=executives, slack=slack, admin=admin_user,
                           pm_template=pm_template,
                           responder=responder_user)


def ingest(client, typed: Typed):
    """Monitoring is a door too: an event whose every text, link and image is hostile."""
    text = typed.text
    from app.alerts.models import Alert
    event = {"routing_key": KEY, "event_action": "trigger", "dedup_key": typed("alert-key"),
             "client": typed("alert-client"), "client_url": "javascript:alert(7)",
             "links": [{"href": "https://grafana.example/d/1", "text": typed("alert-link")},
                       {"href": "javascript:alert(5)", "text": "x"}, {"href": " JavaScript:alert(5)", "text": "x"}],
             "images": [{"src": "https://img.example/graph.png", "href": "javascript:alert(6)",
                         "alt": typed("alert-image")},
                        {"src": "javascript:alert(6)", "alt": "y"}],
             "payload": {"summary": typed("alert-summary"), "source": typed("alert-source"), "severity": "critical",
                         "component": typed("alert-component"), "group": typed("alert-group"),
                         "class": typed("alert-class"), "custom_details": {text: text}}}  # shown as JSON
    answer = client.post("/v2/enqueue", json=event)
    assert answer.status_code == 202, answer.json
    db.session.rollback()
    return db.session.scalar(sa.select(Alert).where(Alert.dedup_key == typed["alert-key"]))


# --- what is checked in each kind of answer ---------------------------------------------------

def nothing_runs(page: Page, where: str) -> None:
    assert not page.live, f"{where}: markup that would run: {page.live[:3]}"


def on_screen(page: Page) -> str:
    """The text a page shows, and what its form fields hold."""
    return page.text + "\n".join(f.value for form in page.forms for f in form.fields.values())


def check_visit(visit, typed: Typed) -> None:
    """Whatever the answer is, nothing typed in it would run where it is read."""
    where = f"{visit.url} ({visit.status})"
    assert visit.status < 500, where
    kind = visit.content_type.split(";")[0].strip()
    body = visit.body.decode("utf-8", "replace")
    if visit.page is not None:
        nothing_runs(visit.page, where)
        for payload in PAYLOADS[:4]:  # the ones that are markup: never there as markup
            assert payload not in body, f"{where}: {payload!r} unescaped"
    elif kind in ("application/atom+xml", "application/rss+xml", "application/xml", "text/xml"):
        check_feed(body, where)
    elif kind == "application/json":
        json.loads(body)
    elif kind == "text/csv":
        check_csv(body, typed, where)
    elif kind == "text/calendar":
        assert "&lt;" not in body and "&#" not in body, f"{where}: HTML-escaped text in a calendar"
    elif kind == "application/pdf":
        assert visit.body.startswith(b"%PDF"), where
    else:
        assert kind in ("text/markdown", "text/css", "image/png", "image/svg+xml", "text/plain"), where


def check_feed(body: str, where: str) -> None:
    """The feed parses as XML; what it marks as HTML is HTML in which nothing runs."""
    for element in ET.fromstring(body).iter():
        if element.get("type") == "html" or element.tag == "description":  # Atom's html, RSS's description
            nothing_runs(Page(element.text or ""), f"{where} <{element.tag}>")


def check_csv(body: str, typed: Typed, where: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(body)))
    for row in rows:
        for value in row.values():
            assert not (value or "").startswith(("=", "+", "-", "@")), f"{where}: a formula: {value!r}"
            assert "&lt;" not in (value or ""), f"{where}: HTML-escaped text in a CSV: {value!r}"
    return rows


def texts_of(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_of(v)]
    return []


def expected(w: SimpleNamespace) -> dict[str, list[str]]:
    """Where each field must be shown, as typed: url → tags."""
    incident, pm = w.incident, w.pm
    public = status_page.public_incident_for(incident)
    pm_public = status_page.public_incident_for(pm.incident)
    sections = [f"section-{n}" for n in range(len(pm.sections))]
    return {
        "/": ["incident-title", "service-name"],
        "/incidents/": ["incident-title", "service-name"],
        f"/incidents/{incident.id}": [
            "incident-title", "incident-description", "note", "decision", "war-room-summary", "war-room-impact", "task",
            "report-conditions", "report-actions", "report-needs", "report-summary", "person-name", "service-name",
            "template-subject", "public-update", "list-name", "webhook-name", "role-name", "role-checklist"],
        "/incidents/roles": ["role-name", "role-description", "role-checklist"],
        "/admin/postmortem-templates": ["pm-template-name"],
        f"/admin/postmortem-templates/{w.pm_template.id}/edit": ["pm-template-name", "pm-template-description",
                                                                 "pm-template-heading", "pm-template-guidance"],
        f"/incidents/{incident.id}/updates/new": ["incident-title", "template-name", "list-name", "webhook-name"],
        f"/postmortems/{pm.id}": ["postmortem-title", "problem-statement", "customers-affected", "cost", *sections,
                                  "why", "because", "why-2", "because-2", "fishbone-cause", "factor-category",
                                  "factor", "comment", "action-item", "public-summary", "admin-name"],
        f"/postmortems/{pm.id}/print": ["postmortem-title", "problem-statement", *sections, "why", "because",
                                        "fishbone-cause", "factor", "action-item"],
        "/postmortems/?status=published": ["postmortem-title"],
        "/action-items/": ["action-item"],
        f"/action-items/{w.item.id}": ["action-item", "action-item-description", "person-name"],
        "/services/": ["service-name", "team-name"],
        f"/services/{w.service.id}": ["service-name", "service-description", "team-name", "policy-name"],
        "/teams": ["team-name"],
        f"/teams/{w.team.id}": ["team-name", "team-description"],
        "/people": ["person-name", "admin-name"],
        f"/people/{w.responder.id}": ["person-name"],
        "/oncall/": ["schedule-name"],
        f"/schedules/{w.schedule.id}": ["schedule-name", "schedule-description"],
        "/insights/": ["service-name"],
        REPORT: ["postmortem-title"],
        "/escalation-policies/": ["policy-name"],
        f"/escalation-policies/{w.policy.id}": ["policy-name", "policy-description"],
        "/comms": ["template-name"],
        f"/stakeholders/{w.executives.id}": ["list-name", "list-description", "member-name"],
        f"/admin/comms-templates/{w.template.key}/edit": ["template-name", "template-subject", "template-body"],
        "/admin/status/": ["component-name", "group-name"],
        f"/admin/status/groups/{w.group.id}/edit": ["group-name", "group-description"],
        "/admin/webhooks": ["webhook-name"],
        "/maintenance/": ["maintenance-title"],
        "/insights/drills": ["drill-title"],
        f"/insights/drills/{w.drill.id}": ["drill-title", "drill-scenario"],
        "/insights/teams": ["team-name"],
        f"/insights/teams/{w.team.id}": ["team-name"],
        "/admin/audit/": ["admin-name", "incident-title"],
        "/admin/outbox": ["template-subject"],
        "/search?q=fishbone-cause": ["fishbone-cause"],
        # Public: no sign-in.
        "/status": ["page-name", "page-about", "group-name", "component-name", "public-title", "public-update",
                    "maintenance-title"],
        "/status/history": ["public-title"],
        f"/status/incidents/{public.public_id}": ["public-title", "public-update", "component-name"],
        f"/status/incidents/{pm_public.public_id}": ["public-summary"],
        f"/status/maintenance/{w.window.public_id}": ["maintenance-title", "maintenance-update"],
    }


PUBLIC = ("/status", "/api/v2/")
REPORT, REPORT_PDF = "/insights/report?month=2026-11", "/insights/report.pdf?month=2026-11"
CSV = "/insights/incidents.csv?preset=custom&start=2026-11-01&end=2026-11-30"
FEEDS = ["/status/feed.atom", "/api/v2/summary.json", "/api/v2/status.json", "/api/v2/components.json",
         "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json", "/api/v2/scheduled-maintenances.json",
         "/api/v2/scheduled-maintenances/upcoming.json"]


@pytest.mark.parametrize("text", TEXTS, ids=lambda text: text[:20])
def test_markup_typed_anywhere_is_shown_as_text_everywhere(app, client, mailbox, twilio, tally, text):
    """Every page an admin or the public reaches, every feed, export, email, SMS, call
    and Slack message: what was typed is text in all of them, and it is there."""
    tally.examples += 1
    typed = Typed(text)
    w = build(typed)
    for minutes in (1, 6):  # pages by SMS at once, by email after five minutes; updates, notices, reviews
        cycle(T0 + timedelta(minutes=minutes))
    alert = ingest(client, typed)
    expect = expected(w)
    expect.update({f"/alerts/{alert.id}": ["alert-summary", "alert-source", "alert-link"],
                   f"/incidents/{alert.incident_id}": ["alert-summary", "alert-source", "alert-component",
                                                      "alert-group", "alert-class", "alert-client", "alert-link",
                                                      "alert-image"]})

    # Everything an admin reaches from these pages, and everything the public does.
    login(client, w.admin)
    seeds = [url for url in expect if not url.startswith(PUBLIC)]
    seeds += [f"/postmortems/{w.pm.id}/postmortem.pdf", f"/postmortems/{w.pm.id}/postmortem.md", REPORT,
              REPORT_PDF, CSV]
    visits = crawl(app, client, seeds + ["/"], per_endpoint=3 if FULL else 1, skip=SLOW)
    anonymous = app.test_client()
    visits += crawl(app, anonymous, [url for url in expect if url.startswith(PUBLIC)] + FEEDS,
                    per_endpoint=3 if FULL else 1)
    by_url = {}
    for visit in visits:
        tally.saw(visit.status)
        check_visit(visit, typed)
        by_url[visit.url] = visit
    missing = {}
    for url, tags in expect.items():
        assert by_url[url].status == 200, url
        missing[url] = [tag for tag in tags if typed[tag] not in on_screen(by_url[url].page)]
    assert not {url: tags for url, tags in missing.items() if tags}
    everywhere = "\n".join(on_screen(v.page) for v in visits if v.page is not None)
    assert not [tag for tag in typed if typed[tag] not in everywhere]  # no field typed in vain

    check_feeds(by_url, typed)
    check_exports(by_url, typed)
    check_messages(mailbox, twilio, typed, w)
    check_calls(client, twilio, w)
    check_webhooks(w, typed)


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def squeezed(text: str) -> str:
    """Text as a PDF gives it back: without spaces, line breaks or direction marks."""
    return "".join(c for c in text if not c.isspace() and c not in BIDI)


def check_feeds(by_url: dict, typed: Typed) -> None:
    """The Atom feed names the public incident and carries its update and post-mortem
    summary as HTML; the JSON gives every public text back exactly as typed."""
    feed = by_url["/status/feed.atom"]
    assert feed.status == 200 and feed.content_type.startswith("application/atom+xml")
    root = ET.fromstring(feed.body)
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [e.text for e in root.iter(f"{atom}title")]
    assert typed["page-name"] + " status" in titles and typed["public-title"] in titles, titles
    html = "".join(Page(e.text or "").text for e in root.iter(f"{atom}content"))
    for tag in ("public-update", "public-summary"):
        assert typed[tag] in html, tag
    found = {url: texts_of(json.loads(by_url[url].body)) for url in FEEDS if url.endswith(".json")}
    for visit in (by_url[url] for url in found):
        assert visit.status == 200 and visit.content_type.startswith("application/json"), visit.url
        assert visit.body.lstrip().startswith((b"{", b"[")), visit.url  # JSON, never sniffed as HTML
    summary = found["/api/v2/summary.json"]
    for tag in ("page-name", "component-name", "group-name", "public-title", "public-update", "maintenance-title"):
        assert typed[tag] in summary, tag
    assert typed["public-update"] in found["/api/v2/incidents.json"]
    assert typed["maintenance-update"] in found["/api/v2/scheduled-maintenances.json"]


def check_exports(by_url: dict, typed: Typed) -> None:
    """CSV, Markdown and the PDFs hold the text as typed: no HTML escaping, no markup."""
    rows = check_csv(by_url[CSV].body.decode(), typed, CSV)
    mine = [row for row in rows if row["title"].lstrip("'") == typed["incident-title"]]
    assert mine and mine[0]["service"].lstrip("'") == typed["service-name"], rows[-1:]
    assert mine[0]["team"].lstrip("'") == typed["team-name"]
    markdown = next(v for url, v in by_url.items() if url.endswith("/postmortem.md")).body.decode()
    assert typed["postmortem-title"] in markdown and typed["section-0"] in markdown and "&lt;" not in markdown
    from pypdf import PdfReader
    for url, tags in ((next(u for u in by_url if u.endswith("/postmortem.pdf")), ("postmortem-title", "section-0",
                                                                                  "action-item")),
                      (REPORT_PDF, ())):
        visit = by_url[url]
        if visit.status == 503:
            continue  # no pango here: the PDF is refused, as other tests allow
        assert visit.status == 200 and visit.body.startswith(b"%PDF"), url
        text = squeezed("".join(page.extract_text() for page in PdfReader(io.BytesIO(visit.body)).pages))
        assert "&lt;" not in text, url
        for tag in tags:
            if not any(c in BIDI for c in typed.text):  # else the override is obeyed: the text reads reversed
                assert squeezed(typed[tag]) in text, (url, tag)


def check_messages(mailbox, twilio, typed: Typed, w) -> None:
    """Emails are plain text on one-line subjects; SMS carry the text; neither escapes it."""
    assert mailbox.messages and twilio.messages
    for message in mailbox.messages:
        assert not message.is_multipart() and message.get_content_type() == "text/plain", message["Subject"]
        subject, body = str(message["Subject"]), message.get_content()
        assert "\n" not in subject and "\r" not in subject
        assert "&lt;" not in subject + body and "&#" not in subject + body, subject
    subjects = " ".join(str(m["Subject"]) for m in mailbox.messages)
    bodies = " ".join(m.get_content() for m in mailbox.messages)
    for tag in ("incident-title", "template-subject", "postmortem-title", "public-title", "maintenance-title",
                "page-name"):
        assert typed[tag] in subjects, tag
    for tag in ("template-body", "public-update", "maintenance-update", "public-summary"):
        assert typed[tag] in bodies, tag
    from app.notify.text import gsm7
    sms = [m.body for m in twilio.messages]
    assert all("&lt;" not in body and "&#" not in body for body in sms), sms
    start = gsm7(typed["incident-title"])[:20]
    assert any(f"#{w.incident.id}" in body and start in body for body in sms), sms


def check_calls(client, twilio, w) -> None:
    """The page call's TwiML says the title and nothing of it becomes a TwiML verb."""
    from app.notify.models import Channel, Notification
    calls = db.session.scalars(sa.select(Notification).where(Notification.channel == Channel.VOICE,
                                                             Notification.incident_id == w.incident.id)).all()
    for row in calls:
        path = f"/twilio/voice/{row.id}"
        params = {"CallSid": "CA1", "AccountSid": "AC", "From": "+15005550006", "To": row.to_address,
                  "CallStatus": "in-progress"}
        answer = client.post(path, data=params, csrf=False,
                             headers={"X-Twilio-Signature": twilio.sign(f"http://localhost{path}", params)})
        assert answer.status_code == 200, answer.status_code
        verbs = {element.tag for element in ET.fromstring(answer.data).iter()}
        assert verbs <= {"Response", "Gather", "Say"}, verbs


def check_webhooks(w, typed: Typed) -> None:
    """Slack reads <, > and & as its own markup (<!channel>, <url|text>) in mrkdwn and in
    the notification text: what people typed is escaped there, only our link is a link."""
    import re

    from app.comms.models import WebhookDelivery
    for delivery in db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == w.slack.id)):
        body = json.loads(delivery.body)
        texts = [body["text"]] + [block["text"]["text"] for block in body["blocks"]
                                  if block.get("text", {}).get("type") == "mrkdwn"]
        texts += [e["text"] for block in body["blocks"] for e in block.get("elements", []) if e["type"] == "mrkdwn"]
        for text in texts:
            outside_links = re.sub(r"<https?://[^|>\s]+\|#\d+>", "", text)
            assert "<" not in outside_links and ">" not in outside_links, text


def test_a_line_break_typed_into_a_subject_never_reaches_an_email_header(app, mailbox, twilio):
    """Titles that become subjects may hold line breaks (a text area, the API, a hand-made
    post): the mail goes out with the title on one line and no header of the sender's."""
    clock.set(T0)
    admin_user = db.session.get(User, 1)
    admin = Actor.for_user(admin_user)
    injected = "Disk full\r\nBcc: evil@example.com\r\n\r\nforged body"
    pm = db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == 1))
    postmortems.update_details(admin, pm, T0, title=injected)
    postmortems.submit_for_review(admin, pm, T0, reviewers=[admin_user])
    subscribers.confirm(subscribers.token(subscribers.subscribe("email", "reader@example.com", T0) and db.session.scalar(
        sa.select(subscribers.Subscriber).where(subscribers.Subscriber.address == "reader@example.com")), "confirm"), T0)
    maintenance.schedule(admin, title=injected, starts_at=T0 + timedelta(hours=2), ends_at=T0 + timedelta(hours=3),
                         services=[db.session.get(Service, 1)], now=T0, public=True)
    db.session.commit()
    cycle(T0 + timedelta(minutes=1))
    subjects = [str(m["Subject"]) for m in mailbox.messages]
    assert any("Disk full Bcc: evil@example.com forged body" in s for s in subjects if "review" in s), subjects
    assert any("Disk full Bcc: evil@example.com forged body" in s for s in subjects if "maintenance" in s), subjects
    for message in mailbox.messages:
        assert message["Bcc"] is None and "evil@example.com" not in message["To"]
