"""A customer on a phone: reads the status page with scripting off and on, subscribes,
confirms by the emailed link (real SMTP on loopback, sent by the engine), hears of
the next incident and its resolution, and unsubscribes in one click."""
from __future__ import annotations

import re
import shutil
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import clock
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.statuspage import service
from tests.browser.conftest import PHONE
from tests.conftest import make_app
from tests.factories import SYSTEM, make_component, make_group, make_service


@pytest.fixture(scope="module")
def status_live(sqlite_template, tmp_path_factory, mailbox_server):
    """A live server of its own that mails through the loopback SMTP server and whose
    status page refreshes itself every second (30-60 s in production)."""
    path = tmp_path_factory.mktemp("status-live") / "firebreak.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", SMTP_URL=mailbox_server.url, STATUS_REFRESH_SECONDS=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, url
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


def mails(mailbox) -> list[tuple[str, str]]:
    return [(m["Subject"], m.get_body(("plain",)).get_content()) for m in mailbox.messages]


def link_in(text: str, kind: str) -> str:
    return re.search(rf"(http://127\.0\.0\.1:\d+/status/{kind}/[\w-]+)", text).group(1)


def test_a_customer_reads_subscribes_hears_and_leaves_on_a_phone(browser, status_live, mailbox_server):
    app, url = status_live
    mailbox_server.reset()
    with app.app_context():
        clock.reset()
        checkout = make_service("checkout-api")
        payments = make_group("Payments")
        cards = make_component("Card payments", group=payments, services=[checkout])
        make_component("Checkout", group=payments)
        make_component("Public API")
        engine = Engine(all_jobs())

        def cycle():
            engine.cycle()

        def publish(title, stage, body, incident=None, components=None):
            if incident is None:
                incident = incidents.open_incident(SYSTEM, service=checkout, title="internal: db-7", severity=2,
                                                   now=clock.now())
            service.publish_update(SYSTEM, incident, stage, body, clock.now(), title=title, components=components)
            db.session.commit()
            return incident

        # Scripting off: the page reads whole, fits the phone, sets no cookie; subscribing works too.
        quiet = browser.new_context(viewport=PHONE, base_url=url, java_script_enabled=False)
        page = quiet.new_page()
        page.set_default_timeout(10_000)
        page.goto("/status")
        expect(page.get_by_role("heading", level=1)).to_contain_text("All Systems Operational")
        expect(page.get_by_role("main")).to_contain_text("Card payments")
        expect(page.get_by_role("banner")).to_contain_text("Firebreak status")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.get_by_role("link", name="Subscribe to updates").click()
        page.get_by_label("Email address").fill("ana@example.com")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        assert quiet.cookies() == []
        quiet.close()

        cycle()
        [(subject, text)] = mails(mailbox_server)
        assert "Confirm" in subject

        # Scripting on: confirm by the emailed link, then watch the page change by itself.
        context = browser.new_context(viewport=PHONE, base_url=url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(link_in(text, "subscribe/confirm"))
        expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
        page.goto("/status")
        expect(page.get_by_role("heading", level=1)).to_contain_text("All Systems Operational")
        page.evaluate("window.firebreakMarker = 'no reload'")

        incident = publish("Card payments failing", "investigating", "Some card payments fail.",
                           components={cards: "partial_outage"})
        expect(page.get_by_role("heading", level=1)).to_contain_text("Partial System Outage", timeout=8000)
        expect(page.locator("#live")).to_contain_text("Card payments failing")
        assert page.evaluate("window.firebreakMarker") == "no reload"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        cycle()
        assert mails(mailbox_server)[-1][0] == "[Firebreak status] New incident: Card payments failing"

        publish(None, "resolved", "Card payments work again.", incident=incident)
        expect(page.get_by_role("heading", level=1)).to_contain_text("All Systems Operational", timeout=8000)
        cycle()
        subject, text = mails(mailbox_server)[-1]
        assert subject == "[Firebreak status] Resolved: Card payments failing"
        assert "Card payments work again." in text and "db-7" not in text

        page.goto(link_in(text, "unsubscribe"))  # one click
        expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
        before = len(mailbox_server.messages)
        publish("Search is slow", "investigating", "Searches take long.")
        cycle()
        assert len(mailbox_server.messages) == before
        assert context.cookies() == []
        context.close()
