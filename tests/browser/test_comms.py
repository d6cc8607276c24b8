"""Issue 8, done when: a SEV-1 from declaration through role assignment, two on-time
updates and one overdue reminder, to the resolution notice; the communication log
shows it all (and the war room reads on a phone)."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from app.comms import stakeholders
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import PASSWORD, SYSTEM, make_service, make_user, reachable

_n = itertools.count()


def sign_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")


def engine(live):
    with live.app.app_context():
        report = Engine(all_jobs(), holder="browser-tests").cycle()
        assert not report.errors, report.errors


def send_update(page, incident_url, *, template=None):
    page.goto(f"{incident_url}/updates/new")
    if template:
        page.get_by_label("Template").select_option(label=template)
        subject = page.get_by_label("Subject")
        before = subject.input_value()
        page.get_by_role("button", name="Use this template").click()
        # The form comes back filled (htmx): Preview is clicked on that one, or the late
        # answer to "Use this template" replaces the preview.
        expect(subject).not_to_have_value(before)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview-box")).to_contain_text("To: Executives")
    page.get_by_role("button", name="Send the update").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("Update sent")


def test_a_sev1_from_declaration_to_the_resolution_notice_with_its_communication_log(
        new_page, live, fake_twilio_server, mailbox_server):
    fake_twilio_server.reset()
    mailbox_server.reset()
    n = next(_n)
    # Set in the past, so nothing this test writes is dated after the real time other tests run at
    # (live lists compare versions made from the newest change).
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    clock.set(t0)
    try:
        with live.app.app_context():
            commander = make_user(Role.RESPONDER, name=f"Cleo Commander {n}", email=f"cleo.comms{n}@example.com")
            lead = reachable(make_user(Role.RESPONDER, name=f"Lee Lead {n}", email=f"lee.comms{n}@example.com"),
                             phone=f"+1555410{n:04d}")
            make_service(f"comms-checkout-{n}")
            execs = stakeholders.create_list(SYSTEM, t0, name=f"Executives {n}", severities=[1], send_sms=False)
            stakeholders.add_member(SYSTEM, execs, t0, name="The chair", email=f"chair{n}@board.example")
            db.session.commit()
            lead_email, lead_phone, chair = lead.email, lead.contact_methods[0].address, f"chair{n}@board.example"
            commander_email = commander.email

        page = new_page(DESKTOP)
        sign_in(page, commander_email)

        # Declaration.
        page.goto("/incidents/new")
        page.get_by_label("What is happening?").fill("Card payments fail at checkout")
        page.get_by_label("Service").select_option(label=f"comms-checkout-{n}")
        page.get_by_label("Severity").select_option(value="1")
        page.get_by_role("button", name="Declare incident").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Card payments fail at checkout")
        incident_url = page.url.split("?")[0]
        comms_status = page.locator("#comms-status")
        expect(comms_status).to_contain_text("Next update due")

        # Role assignment: the commander, then the communications lead.
        for role, person in (("Incident Commander", f"Cleo Commander {n}"), ("Communications Lead", f"Lee Lead {n}")):
            page.locator("#role-form select[name=role]").select_option(label=role)
            page.locator("#role-form select[name=user_id]").select_option(label=person)
            page.locator("#role-form").get_by_role("button", name="Assign").click()
            expect(page.locator(".roles-panel")).to_contain_text(person)
        expect(page.locator(".role-comms_lead")).to_contain_text(f"Lee Lead {n}")
        expect(page.locator(".role-commander")).to_contain_text("Your checklist")
        expect(comms_status).to_contain_text(f"from Lee Lead {n} (communications lead)")

        # Two updates on time: the internal technical update at +10 min, the management update at +35.
        clock.set(t0 + timedelta(minutes=10))
        send_update(page, incident_url)
        clock.set(t0 + timedelta(minutes=35))
        send_update(page, incident_url, template="Management update")
        engine(live)
        chair_mail = [m for m in mailbox_server.messages if m["To"] == chair]
        assert len(chair_mail) == 2 and "Card payments fail at checkout" in chair_mail[1]["Subject"]

        # Nobody sends the next one (due at +65): the engine reminds the communications lead, once.
        clock.set(t0 + timedelta(minutes=60))
        engine(live)
        clock.set(t0 + timedelta(minutes=66))
        engine(live)
        engine(live)
        overdue = [m for m in mailbox_server.messages if m["To"] == lead_email and "Update overdue" in m["Subject"]]
        assert len(overdue) == 1
        assert len([m for m in fake_twilio_server.messages if m.to == lead_phone and "was due at" in m.body]) == 1
        assert [m for m in mailbox_server.messages if m["To"] == lead_email and "Update due at" in m["Subject"]]
        expect(comms_status).to_contain_text("Update overdue")  # the live block polls it in
        expect(page.locator(".comms-log tr.comms-overdue")).to_contain_text("Update overdue")

        # Resolved, and the resolution notice (proposed once resolved) goes, late for the overdue update.
        clock.set(t0 + timedelta(minutes=70))
        page.locator(".incident-actions").get_by_role("button", name="Resolve").click()
        expect(page.locator(".incident-meta")).to_contain_text("resolved")
        page.goto(f"{incident_url}/updates/new")
        expect(page.get_by_label("Template")).to_have_value("resolution")
        expect(page.get_by_label("Stage")).to_have_value("resolved")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator(".preview-box")).to_contain_text("is resolved")
        page.get_by_role("button", name="Send the update").click()
        expect(page.locator(".flash")).to_contain_text("Update sent (late)")
        engine(live)
        assert [m["Subject"] for m in mailbox_server.messages if m["To"] == chair][-1].startswith("Resolved:")

        # The communication log shows it all.
        log = page.locator(".comms-log")
        rows = log.locator("tbody tr")
        expect(rows).to_have_count(4)
        expect(rows.nth(0)).to_contain_text("on time")
        expect(rows.nth(1)).to_contain_text("on time")
        expect(rows.nth(1)).to_contain_text(f"Executives {n}")
        expect(rows.nth(2)).to_contain_text("Update overdue")
        expect(rows.nth(2)).to_contain_text("met late")
        expect(rows.nth(3)).to_contain_text("Resolved: Card payments fail at checkout")
        expect(rows.nth(3)).to_contain_text("late")
        expect(log).to_contain_text("3 sent · 2 on time")
        expect(page.locator(".plan-item").first).to_contain_text("done")
        expect(page.locator("ol.timeline")).to_contain_text(f"Lee Lead {n} is now Communications Lead")

        # Everyone watching reads the same war room on a phone.
        phone = new_page(PHONE)
        sign_in(phone, lead_email)
        phone.goto(incident_url)
        expect(phone.locator(".comms-log tbody tr")).to_have_count(4)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        clock.reset()
