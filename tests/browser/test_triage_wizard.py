"""The triage wizard on a phone, to a SEV-1 that pages the right people."""
from __future__ import annotations

import itertools

from playwright.sync_api import expect

from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation import policies
from app.escalation.models import SeverityTrigger
from app.extensions import db
from tests.browser.conftest import PHONE
from tests.factories import PASSWORD, make_service, make_user, reachable

_n = itertools.count()


def test_walk_the_wizard_on_a_phone_to_a_sev1_and_page_people(new_page, live, fake_twilio_server):
    fake_twilio_server.reset()
    n = next(_n)
    with live.app.app_context():
        from app import clock
        responder = make_user(Role.RESPONDER, name=f"Triage Tess {n}", email=f"tess{n}@example.com")
        oncall = reachable(make_user(Role.RESPONDER, name=f"Oncall Omar {n}"), phone=f"+1555200{n:04d}")
        commander = reachable(make_user(Role.RESPONDER, name=f"Commander Cleo {n}"), phone=f"+1555300{n:04d}")
        service = make_service(f"wizard-checkout-{n}")
        admin = make_user(Role.ADMIN)
        from app.audit.service import Actor
        policy = policies.create_policy(Actor.for_user(admin), name=f"Wizard policy {n}", now=clock.now())
        step = policies.add_step(Actor.for_user(admin), policy, delay_minutes=5, mode="all", now=clock.now())
        policies.add_target(Actor.for_user(admin), step, "user", oncall.id, clock.now())
        service.escalation_policy_id = policy.id
        db.session.add(SeverityTrigger(severity=1, kind="user", user_id=commander.id, on="open"))
        db.session.commit()
        service_id, email = service.id, responder.email
        numbers = {oncall.contact_methods[0].address, commander.contact_methods[0].address}

    page = new_page(PHONE)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto("/triage/new")
    page.get_by_label(f"wizard-checkout-{n}").select_option("unavailable")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("All or nearly all").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Is any data lost or corrupted?")).to_be_visible()
    page.locator("input[name=data_loss][value=no]").check()
    page.locator("input[name=security][value=no]").check()
    page.get_by_role("button", name="Next").click()
    page.locator("input[name=exposure][value=yes]").check()
    page.locator("input[name=workaround][value=no]").check()
    page.get_by_role("button", name="Next").click()
    recommendation = page.locator(".recommendation")
    expect(recommendation).to_contain_text("Recommended: SEV-1")
    expect(recommendation).to_contain_text(f"wizard-checkout-{n} is unavailable for all customers")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_label("Title").fill("Checkout is down for everyone")
    page.get_by_role("button", name="Open the incident and page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout is down for everyone")
    expect(page.locator(".incident-meta")).to_contain_text("SEV-1")

    with live.app.app_context():
        Engine(all_jobs(), holder="browser-tests").cycle()
    assert {m.to for m in fake_twilio_server.messages} == numbers
    assert all(m.body.startswith("[SEV-1 #") for m in fake_twilio_server.messages)
    assert service_id
