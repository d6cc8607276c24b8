"""The incident list and page stay live for everyone watching, and work without JavaScript."""
from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import PASSWORD, SYSTEM, make_service, make_user

_n = itertools.count()


@pytest.fixture
def world(live):
    with live.app.app_context():
        n = next(_n)
        service = make_service(f"live-service-{n}")
        watcher = make_user(Role.VIEWER, name=f"Watcher {n}", email=f"watcher{n}@example.com")
        actor = make_user(Role.RESPONDER, name=f"Responder {n}", email=f"responder{n}@example.com")
        incident = incidents.open_incident(SYSTEM, service=service, title=f"Checkout down {n}", severity=2,
                                           now=clock.now())
        db.session.commit()
        return {"incident": incident.id, "service": service.id, "watcher": watcher.email, "actor": actor.email,
                "title": incident.title}


def sign_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")


def test_a_change_shows_on_every_watchers_screen_without_a_reload(new_page, world):
    watcher_list, watcher_page, responder = new_page(DESKTOP), new_page(PHONE), new_page(DESKTOP)
    sign_in(watcher_list, world["watcher"])
    sign_in(watcher_page, world["watcher"])
    sign_in(responder, world["actor"])
    watcher_list.goto("/incidents/")
    row = watcher_list.locator("tr", has_text=world["title"])
    expect(row).to_contain_text("triggered")
    watcher_page.goto(f"/incidents/{world['incident']}")
    expect(watcher_page.locator(".incident-meta")).to_contain_text("triggered")
    watcher_list.evaluate("window.firebreakMarker = 'no reload'")  # a reload would lose it

    responder.goto(f"/incidents/{world['incident']}")
    responder.get_by_role("button", name="Acknowledge").click()
    expect(responder.locator(".incident-meta")).to_contain_text("acknowledged")
    responder.get_by_label("Add a note").fill("Rolling back **v2.14**")
    responder.get_by_role("button", name="Add note").click()
    expect(responder.locator("ol.timeline")).to_contain_text("Rolling back v2.14")
    expect(responder.get_by_label("Add a note")).to_have_value("")  # the form emptied itself

    expect(row).to_contain_text("acknowledged", timeout=5000)
    expect(watcher_page.locator(".incident-meta")).to_contain_text("acknowledged", timeout=5000)
    expect(watcher_page.locator("ol.timeline strong")).to_have_text("v2.14", timeout=5000)
    assert watcher_list.evaluate("window.firebreakMarker") == "no reload"


def test_every_action_works_without_javascript(browser, live, world):
    context = browser.new_context(viewport=PHONE, base_url=live.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, world["actor"])
        page.goto(f"/incidents/{world['incident']}")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator(".flash")).to_have_text("Acknowledged.")
        page.get_by_label("Add a note").fill("Works on a locked-down phone")
        page.get_by_role("button", name="Add note").click()
        expect(page.locator("ol.timeline")).to_contain_text("Works on a locked-down phone")
        page.get_by_label("New severity").select_option("1")
        page.get_by_label("Why").fill("all customers")
        page.get_by_role("button", name="Change severity").click()
        expect(page.locator(".incident-meta")).to_contain_text("SEV-1")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".incident-meta")).to_contain_text("resolved")
    finally:
        context.close()


def test_declare_an_incident_on_a_phone(new_page, world):
    page = new_page(PHONE)
    sign_in(page, world["actor"])
    page.goto("/incidents/new")
    page.get_by_label("What is happening?").fill("Customers cannot log in")
    page.get_by_label("Severity").select_option("1")
    page.get_by_role("button", name="Declare incident").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customers cannot log in")
    expect(page.locator(".incident-meta")).to_contain_text("SEV-1")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
