"""Passkeys in the real browser, with Chromium's virtual authenticator (DevTools'
WebAuthn domain: a platform authenticator with resident keys that verifies the
person): add a passkey on the profile, sign out, sign in with it and no password;
then remove it, and the browser's copy no longer signs in. And joining through an
invitation with a passkey in place of a password.

WebAuthn needs a secure context and a domain for the rp id (an IP address is not one),
so this test opens the live server as http://localhost:<port>, with PUBLIC_BASE_URL
set to that origin for the test's length."""
from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import expect

from app import clock
from app.audit.service import Actor
from app.auth import invitations
from app.auth.models import Role
from app.extensions import db
from tests.browser.conftest import DESKTOP
from tests.factories import PASSWORD, make_user

_n = itertools.count()


@pytest.fixture
def localhost(live):
    """The live server's origin as http://localhost:<port>, the relying party's too."""
    before = live.app.config["PUBLIC_BASE_URL"]
    origin = before.replace("127.0.0.1", "localhost")
    live.app.config["PUBLIC_BASE_URL"] = origin
    yield origin
    live.app.config["PUBLIC_BASE_URL"] = before


@pytest.fixture
def page(browser, localhost):
    context = browser.new_context(viewport=DESKTOP, base_url=localhost)
    page = context.new_page()
    page.set_default_timeout(10_000)
    authenticator = context.new_cdp_session(page)
    authenticator.send("WebAuthn.enable")
    authenticator.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    yield page
    context.close()


def sign_out(page) -> None:
    page.locator("button:visible", has_text="Sign out").first.click()
    expect(page.get_by_role("heading", name="Sign in to Firebreak")).to_be_visible()


def test_add_a_passkey_sign_in_with_it_alone_then_remove_it(page, live, localhost):
    n = next(_n)
    with live.app.app_context():
        email = make_user(Role.RESPONDER, name=f"Kim Passkey {n}", email=f"kim.passkey{n}@example.com").email
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Hello, Kim")).to_be_visible()

    page.goto("/profile/passkeys")
    page.get_by_label("Name").fill("Virtual laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("The passkey 'Virtual laptop' is added")).to_be_visible()
    expect(page.locator("#passkeys tbody tr")).to_have_count(1)

    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{localhost}/")
    expect(page.get_by_text("Hello, Kim")).to_be_visible()

    page.goto("/profile/passkeys")
    expect(page.get_by_text("never")).to_have_count(0)  # last used: just now
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()  # the browser still holds it
    expect(page.get_by_role("alert")).to_contain_text("not registered")
    expect(page).to_have_url(f"{localhost}/login")
    assert refused == []


def test_join_through_an_invitation_with_a_passkey_then_sign_in_with_it(page, live, localhost):
    n = next(_n)
    with live.app.app_context():
        sent = invitations.invite(Actor.system("test"), f"lee.joiner{n}@example.com", Role.RESPONDER, None,
                                  clock.now())
        db.session.commit()
        [(_, link)] = sent.made
    page.goto(link.removeprefix(localhost))
    page.get_by_label("Your name").fill(f"Lee Joiner {n}")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_label("Name the passkey").fill("Virtual phone")
    page.get_by_role("button", name="Join with a passkey").click()
    expect(page.get_by_text(f"Welcome, Lee Joiner {n}")).to_be_visible()
    expect(page).to_have_url(f"{localhost}/profile/paging")

    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text("Hello, Lee")).to_be_visible()
    page.goto("/profile/passkeys")
    expect(page.locator("#passkeys tbody tr input[name=name]")).to_have_value("Virtual phone")
