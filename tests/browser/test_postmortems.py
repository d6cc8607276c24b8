"""Issue 10's "done when": resolve a SEV-2, find the draft filled from its timeline,
complete a 5 Whys and a fishbone, add two action items, take it through review to
published, print it to PDF, and find it again by searching a phrase from its lessons."""
from __future__ import annotations

import io
import itertools
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.postmortems import service as postmortems
from tests.browser.conftest import DESKTOP
from tests.browser.test_comms import engine
from tests.browser.test_incidents_live import sign_in
from tests.factories import SYSTEM, actor, make_service, make_user

_n = itertools.count()


@pytest.fixture
def world(live):
    with live.app.app_context():
        n = next(_n)
        postmortems.ensure_defaults()
        owner = make_user(Role.RESPONDER, name=f"Rita Owner {n}", email=f"pm-owner{n}@example.com")
        reviewer = make_user(Role.RESPONDER, name=f"Rex Reviewer {n}", email=f"pm-reviewer{n}@example.com")
        service = make_service(f"payments-db-{n}")
        now = clock.now()
        incident = incidents.open_incident(SYSTEM, service=service, title=f"Checkout fails for card payments {n}",
                                           severity=2, now=now - timedelta(minutes=40), source="alert")
        incidents.acknowledge(actor(owner), incident, now - timedelta(minutes=37))
        incidents.add_note(actor(owner), incident, f"Connection pool exhausted on payments-db {n}",
                           now - timedelta(minutes=30))
        db.session.commit()
        return {"n": n, "incident": incident.id, "title": incident.title, "owner": owner.email,
                "owner_name": owner.name, "reviewer": reviewer.email, "reviewer_name": reviewer.name}


def test_a_sev2_from_resolution_to_a_published_post_mortem_found_again(new_page, world, live, tmp_path):
    page = new_page(DESKTOP)
    sign_in(page, world["owner"])
    page.goto(f"/incidents/{world['incident']}")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".incident-meta")).to_contain_text("resolved")

    # The draft comes with the engine's next cycle: the page says so meanwhile, then
    # shows it without a reload. Filled from the timeline.
    expect(page.locator("#incident-postmortem")).to_contain_text("being prepared")
    engine(live)
    page.locator("#incident-postmortem a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Post-mortem: {world['title']}")
    expect(page.locator(".pm-head")).to_contain_text("Draft")
    expect(page.locator(".pm-head")).to_contain_text(world["owner_name"])
    expect(page.locator("ol.pm-timeline")).to_contain_text(f"Connection pool exhausted on payments-db {world['n']}")
    expect(page.locator("ol.pm-timeline")).to_contain_text("Resolved by")

    # 5 Whys: a first why, then a why of its answer.
    chain = page.locator("form.why-form.card")
    chain.get_by_label("Why?").fill("Why did card payments fail?")
    chain.get_by_label("Because").fill("The payments database refused connections")
    chain.get_by_role("button", name="Add why").click()
    expect(page.locator("ol.whys")).to_contain_text("The payments database refused connections")
    page.locator("li.why summary").first.click()
    ask = page.locator("li.why form.why-form").first
    ask.get_by_label("Why?").fill("Why did it refuse connections?")
    ask.get_by_label("Because").fill("A release doubled the pool size per worker")
    ask.get_by_role("button", name="Ask why").click()
    expect(page.locator("ol.whys ol.whys")).to_contain_text("A release doubled the pool size per worker")

    # The fishbone, drawn as SVG.
    for category, cause in (("Technology", "Pool size fixed per worker"), ("Process", "No load test before release")):
        form = page.locator("form.cause-form")
        form.get_by_label("Category").fill(category)
        form.get_by_label("Cause").fill(cause)
        form.get_by_role("button", name="Add cause").click()
        expect(page.locator("figure.fishbone-figure svg")).to_contain_text(cause)

    # Two action items.
    for title in ("Alert on connection pool saturation", "Load test releases that change pool settings"):
        form = page.locator("#new-action-item")
        form.get_by_label("Action").fill(title)
        form.get_by_label("Owner").select_option(label=world["owner_name"])
        form.get_by_label("Due").fill((clock.now() + timedelta(days=14)).date().isoformat())
        form.get_by_role("button", name="Add action item").click()
        expect(page.locator("table.action-items")).to_contain_text(title)

    # Lessons, the phrase we will search for.
    lesson = f"Watch pool saturation {world['n']}: the connection pool ran out long before CPU did."
    lessons = page.locator("section.pm-kind-lessons")
    lessons.locator("summary").first.click()
    lessons.get_by_label("Lessons learned").fill(lesson)
    lessons.get_by_role("button", name="Save Lessons learned").click()
    expect(page.locator("section.pm-kind-lessons .pm-body")).to_contain_text(lesson)

    # Review: ask, send, approve (as the reviewer), publish.
    page.locator("#review").get_by_label("Reviewers").select_option(label=world["reviewer_name"])
    page.get_by_role("button", name="Ask to review").click()
    page.get_by_role("button", name="Send for review").click()
    expect(page.locator(".pm-head")).to_contain_text("In review")
    url = page.url.split("#")[0]

    reviewer = new_page(DESKTOP)
    sign_in(reviewer, world["reviewer"])
    reviewer.goto(url)
    reviewer.get_by_role("button", name="Approve").click()
    expect(reviewer.locator("#review")).to_contain_text("approved")

    page.goto(url)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".pm-head")).to_contain_text("Published")
    expect(page.locator(".notice")).to_contain_text("read-only")
    expect(page.get_by_role("button", name="Add why")).to_have_count(0)

    # Print it to PDF and read it back.
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF (A4)").click()
    path = tmp_path / "postmortem.pdf"
    download.value.save_as(path)
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert world["title"] in text and "post-mortem · published" in text.lower()
    assert lesson in text
    assert "A release doubled the pool size per worker" in text
    assert "No load test before release" in text
    assert "Load test releases that change pool settings" in text

    # Find it again by a phrase from its lessons.
    page.goto("/search")
    page.get_by_label('Words or a "quoted phrase"').fill(f'"pool saturation {world["n"]}"')
    page.get_by_role("button", name="Search").click()
    hit = page.locator("ol.search-hits li.hit-lesson").first
    expect(hit).to_contain_text(world["title"])
    hit.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Post-mortem: {world['title']}")
    assert page.url.endswith("#lessons")
