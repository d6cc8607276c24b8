"""On a phone: add a mobile number, type the code it was sent, and get a test page on it."""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from tests.browser.conftest import PHONE
from tests.browser.test_comms import engine
from tests.factories import PASSWORD, make_user

_n = itertools.count()


def test_a_responder_adds_and_verifies_a_phone_on_a_phone(new_page, live, fake_twilio_server):
    n = next(_n)
    number = f"+1555987{n:04d}"
    with live.app.app_context():
        me = make_user(Role.RESPONDER, name=f"Pia Phone {n}", email=f"pia{n}@example.com")
        email = me.email
    page = new_page(PHONE)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto("/profile/paging")
    expect(page.get_by_role("heading", level=1)).to_have_text("How you are paged")

    page.get_by_text("Add a contact method").click()
    page.get_by_label("Kind").select_option(value="sms")
    page.get_by_label("Number or address").fill("not a number")
    page.get_by_role("button", name="Add and send a code").click()
    expect(page.locator(".form-errors, .field-error").first).to_be_visible()  # a clear error, nothing added
    expect(page.locator("li.method")).to_have_count(0)

    page.get_by_label("Number or address").fill(number)
    page.get_by_role("button", name="Add and send a code").click()
    expect(page.locator(".flash")).to_contain_text(f"We sent a code to {number}")
    method = page.locator("li.method", has_text=number)
    expect(method).to_contain_text("not verified")
    engine(live)  # the code goes out through the outbox
    [sent] = [m for m in fake_twilio_server.messages if m.to == number]
    code = re.search(r"\b(\d{6})\b", sent.body).group(1)

    method.get_by_label(f"Code sent to {number}").fill("000000" if code != "000000" else "111111")
    method.get_by_role("button", name="Verify").click()
    expect(page.locator("li.method", has_text=number)).to_contain_text("That code is not right.")
    page.locator("li.method", has_text=number).get_by_label(re.compile("Code")).fill(code)
    page.locator("li.method", has_text=number).get_by_role("button", name="Verify").click()
    expect(page.locator("li.method", has_text=number)).to_contain_text("verified")
    expect(page.locator("li.method", has_text=number)).not_to_contain_text("not verified")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the screen

    page.get_by_role("button", name="Send me a test page").click()
    expect(page.locator(".flash")).to_be_visible()
    with clock.frozen_at(clock.now() + timedelta(seconds=61)):  # one SMS a minute per number: past the code's
        engine(live)
    assert any(m.to == number and m.body.startswith("Firebreak test page") for m in fake_twilio_server.messages)
