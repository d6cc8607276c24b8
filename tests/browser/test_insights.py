"""Insights in the browser: from the navigation to the dashboard, a filter swapped in
by htmx, the definitions, the page on paper and on a phone, the monthly report;
no Content-Security-Policy complaint anywhere."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.insights import drills
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_incidents_live import sign_in
from tests.factories import SYSTEM, actor, make_service, make_user

_n = itertools.count()


@pytest.fixture
def world(live):
    with live.app.app_context():
        n = next(_n)
        viewer = make_user(Role.VIEWER, name=f"Vera Viewer {n}", email=f"insights-viewer{n}@example.com",
                           time_zone="Europe/London")
        lead = make_user(Role.RESPONDER, name=f"Lou Lead {n}", email=f"insights-lead{n}@example.com")
        api, db_service = make_service(f"insights-api-{n}"), make_service(f"insights-db-{n}")
        now = clock.now()
        for days, service, severity in ((2, api, 2), (3, api, 3), (5, db_service, 1), (9, api, 4), (12, db_service, 3)):
            incident = incidents.open_incident(SYSTEM, service=service, title=f"Trouble {n}-{days}", severity=severity,
                                               now=now - timedelta(days=days), source="alert",
                                               impact_started_at=now - timedelta(days=days, minutes=3))
            incidents.acknowledge(actor(lead), incident, now - timedelta(days=days) + timedelta(minutes=4))
            incidents.resolve(actor(lead), incident, now - timedelta(days=days) + timedelta(minutes=50))
        drill = drills.start_drill(actor(lead), service=api, title=f"Game day {n}", severity=2,
                                   now=now - timedelta(days=1))
        drills.assess(actor(lead), drill, lead, now, score=88)
        db.session.commit()
        return {"viewer": viewer.email, "api": api.name, "api_id": api.id}


def test_the_dashboard_from_the_navigation_filtered_printed_and_on_a_phone(new_page, world):
    page = new_page(DESKTOP)
    complaints = []
    page.on("console", lambda m: complaints.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, world["viewer"])
    page.locator("nav .nav-links").get_by_role("link", name="Insights", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Insights")
    expect(page.locator(".period-line")).to_contain_text("Last 30 days")
    expect(page.locator("svg[role=img]")).to_have_count(6)  # no contributing factors yet: five charts and a note
    expect(page.locator("#response-times")).to_contain_text("Time to acknowledge (MTTA)")
    expect(page.locator("#tile-training .tile-value")).not_to_have_text("0")

    # A filter: htmx swaps the results in place and the address follows.
    page.evaluate("window.__stayed = true")
    page.get_by_label("Service", exact=True).select_option(label=world["api"])
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"/insights/?period=30d&start=&end=&team=&service={world['api_id']}&severity=&by=week")
    expect(page.locator("#insights-results")).to_contain_text("3 incidents:")
    assert page.evaluate("window.__stayed") is True  # not a new page: the block was swapped

    # What a figure means, one click away.
    page.locator("#tile-recurrence h3 a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What the figures mean")
    expect(page.locator("dt#recurrence")).to_have_text("Recurrence rate")

    # On paper: no navigation, no filters, every chart still there.
    page.goto("/insights/")
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".insights-filters")).to_be_hidden()
    expect(page.locator("svg[role=img]").first).to_be_visible()
    page.emulate_media(media="screen")

    # The monthly report is its own printable page.
    page.goto("/insights/report")
    expect(page.get_by_role("heading", level=2, name="At a glance")).to_be_visible()
    assert complaints == []

    # On a phone: charts shrink, wide tables scroll inside their wrapper, the page does not.
    phone = new_page(PHONE)
    sign_in(phone, world["viewer"])
    phone.goto("/insights/")
    expect(phone.locator("svg[role=img]").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
