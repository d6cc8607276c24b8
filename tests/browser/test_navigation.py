"""Sign in and walk the navigation, on a desktop and on a phone."""
from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import expect

from app.auth.models import Role
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import PASSWORD, make_service, make_team, make_user

_n = itertools.count()


@pytest.fixture
def admin(live):
    with live.app.app_context():
        n = next(_n)
        user = make_user(Role.ADMIN, name=f"Avery Admin {n}", email=f"avery{n}@example.com")
        make_team(f"Payments {n}", members=[user])
        make_service(f"checkout-api-{n}")
        return user.email


def sign_in(page, email, password=PASSWORD):
    page.goto("/")
    expect(page).to_have_url("/login?next=/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Avery")


SECTIONS = [("Incidents", "Incidents"), ("Services", "Services"), ("Teams", "Teams"), ("People", "People"),
            ("Audit log", "Audit log")]
UNDER_MORE = {"Services", "Teams", "People", "Audit log"}


def test_sign_in_and_walk_the_navigation_on_a_desktop(new_page, admin):
    page = new_page(DESKTOP)
    sign_in(page, admin)
    nav = page.locator("nav .nav-links")
    expect(nav).to_be_visible()
    for link, heading in SECTIONS:
        if link in UNDER_MORE:
            nav.locator(".nav-more summary").click()
        nav.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(nav.locator("a", has_text=link).first).to_have_attribute("aria-current", "page")
        if link in UNDER_MORE:
            expect(nav.locator(".nav-more summary")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Home").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")


def test_sign_in_and_walk_the_navigation_on_a_phone(new_page, admin):
    page = new_page(PHONE)
    sign_in(page, admin)
    expect(page.locator("nav .nav-links")).to_be_hidden()
    for link, heading in SECTIONS:
        page.get_by_text("Menu", exact=True).click()
        page.locator(".nav-menu").get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        # The heading is in the document before its stylesheet has loaded; measure the
        # laid-out page, not the unstyled one (a busy machine showed 526 px once).
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], link
    page.get_by_text("Menu", exact=True).click()
    page.locator(".nav-menu").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Firebreak")).to_be_visible()


def test_a_wrong_password_is_refused_clearly_in_the_browser(new_page, admin):
    page = new_page(PHONE)
    page.goto("/login")
    page.get_by_label("Email").fill(admin)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match an active account.")
    expect(page.get_by_label("Email")).to_have_value(admin)


def test_people_search_updates_live_with_htmx(new_page, admin, live):
    with live.app.app_context():
        make_user(name="Zelda Quux")
    page = new_page(DESKTOP)
    sign_in(page, admin)
    page.goto("/people")
    page.get_by_label("Search people").fill("Zelda")
    expect(page.locator("#results")).to_contain_text("Zelda Quux")
    expect(page.locator("#results")).not_to_contain_text(admin)
    expect(page).to_have_url("/people?q=Zelda")
