"""On a phone at 2 a.m.: cover the current shift from the calendar in two taps and
see yourself on call at once; the calendar fits a 390 px screen."""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from tests.browser.conftest import PHONE
from tests.factories import PASSWORD, make_user
from tests.oncall_factories import make_layer, make_schedule

_n = itertools.count()


@pytest.fixture
def world(live):
    with live.app.app_context():
        n = next(_n)
        me = make_user(Role.RESPONDER, name=f"Rita Responder {n}", email=f"rita{n}@example.com")
        other = make_user(Role.RESPONDER, name=f"Otto Other {n}", email=f"otto{n}@example.com")
        schedule = make_schedule(f"Phone rota {n}")
        make_layer(schedule, [other], name="Primary", start=(clock.now() - timedelta(days=7)).date())
        return {"me": me.name, "email": me.email, "other": other.name, "schedule": schedule.id}


def sign_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")


def test_an_override_made_in_two_taps_on_a_phone_shows_at_once_in_who_is_on_call(new_page, world):
    page = new_page(PHONE)
    sign_in(page, world["email"])
    page.goto(f"/schedules/{world['schedule']}")
    now_card = page.locator("#on-call-now")
    expect(now_card).to_contain_text(world["other"])
    page.evaluate("window.firebreakMarker = 'no reload'")
    current = page.locator("li.piece.now")
    expect(current).to_have_count(1)
    current.get_by_text("Cover or swap").click()  # tap 1
    current.get_by_role("button", name=re.compile("I'll cover")).click()  # tap 2
    expect(now_card).to_contain_text(world["me"])
    expect(page.locator("#schedule-live .flash")).to_contain_text("You cover")
    expect(page.locator("li.piece.now")).to_contain_text(world["me"])
    assert page.evaluate("window.firebreakMarker") == "no reload"  # swapped in place by htmx
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto("/")
    expect(page.locator(".oncall-now")).to_contain_text(world["me"])


def test_covering_works_without_javascript(browser, live, world):
    context = browser.new_context(viewport=PHONE, base_url=live.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, world["email"])
        page.goto(f"/schedules/{world['schedule']}")
        current = page.locator("li.piece.now")
        current.get_by_text("Cover or swap").click()
        current.get_by_role("button", name=re.compile("I'll cover")).click()
        expect(page.locator("#on-call-now")).to_contain_text(world["me"])
        expect(page.locator(".flash")).to_contain_text("You cover")
    finally:
        context.close()
