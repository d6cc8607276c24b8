"""Two-factor sign-in in the real browser: set up an authenticator from the QR code's
page (drawn under the strict CSP, nothing refused), sign out, and sign in again with
the password and then a code. Codes come from pyotp at the app clock's time, which
the test sets and moves instead of waiting."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pyotp
from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from tests.factories import PASSWORD, make_user

_n = itertools.count()


def sign_in_with_password(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_enrol_then_sign_in_with_a_code(new_page, live):
    n = next(_n)
    with live.app.app_context():
        email = make_user(Role.RESPONDER, name=f"Tess Totp {n}", email=f"tess.totp{n}@example.com").email
    refused = []
    with clock.frozen_at(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC) + timedelta(days=n)):
        page = new_page()
        page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
                else None)
        sign_in_with_password(page, email)
        page.goto("/profile/two-factor")
        page.get_by_role("button", name="Set up two-factor sign-in").click()
        qr = page.locator("figure.qr svg")
        expect(qr).to_be_visible()
        assert qr.bounding_box()["width"] >= 150  # drawn, at a size a phone's camera reads
        secret = page.locator("#totp-secret").inner_text()

        page.get_by_label("Code").fill(pyotp.TOTP(secret).at(clock.now()))
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        expect(page.locator(".recovery-codes li")).to_have_count(10)

        page.locator("button:visible", has_text="Sign out").first.click()
        clock.advance(timedelta(seconds=30))  # the next code: the one used to enrol is spent
        sign_in_with_password(page, email)
        expect(page.get_by_role("heading", name="One more step")).to_be_visible()
        page.get_by_label("Code").fill(pyotp.TOTP(secret).at(clock.now()))
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page).to_have_url(f"{live.url}/")
        expect(page.get_by_text("Hello, Tess")).to_be_visible()
    assert refused == []
