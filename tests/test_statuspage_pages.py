"""The status page as people read it, and the pages that run it: what customers see
(and never see), escaping, the feed, landmarks and labels, admin configuration,
publishing from the incident page (whole page and htmx), maintenance."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert
from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.services import maintenance
from app.services.models import MaintenanceWindow
from app.statuspage import service
from app.statuspage.models import Component, ComponentGroup, PublicIncident
from tests.factories import SYSTEM, actor, login, make_component, make_group, make_service, make_team, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def world(app):
    clock.set(T0)
    checkout = make_service("checkout-api")
    group = make_group("Payments")
    cards = make_component("Card payments", group=group, services=[checkout])
    api = make_component("Public API")
    return type("World", (), {"checkout": checkout, "group": group, "cards": cards, "api": api})


def page_text(client, url="/status") -> str:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer.get_data(as_text=True)


@pytest.mark.db
def test_the_page_shows_the_state_components_bars_and_the_rule(world, client):
    clock.advance(timedelta(hours=1))
    html = page_text(client)
    assert '<html lang="en">' in html and "<main" in html and "<header" in html and "<footer" in html
    assert 'class="overall none"' in html and "All Systems Operational" in html
    assert "Payments" in html and "Card payments" in html and "Public API" in html
    assert html.count('<div class="bars">') == 2 and "100.00% uptime" in html
    assert "partial outage counts as 30% down" in html and "maintenance is left out" in html
    assert "No incidents reported." in html
    assert 'hx-trigger="every 45s"' in html and 'hx-select="#live"' in html
    assert "<script>" not in html and "style=" not in html  # CSP: no inline script or style
    assert re.search(r'<link rel="stylesheet" href="/status/brand.css\?v=\w+">', html)


@pytest.mark.db
def test_nothing_internal_ever_shows_and_every_text_is_escaped(world, client):
    responder = make_user(Role.RESPONDER, name="Rita Responder")
    secret_service = make_service("payments-db-7")
    incident = incidents.open_incident(actor(responder), service=secret_service, title="db-7 disk full", severity=1,
                                       now=clock.now(), description="ssh to 10.0.0.7")
    incidents.add_note(actor(responder), incident, "password hunter2 leaked in logs", clock.now())
    db.session.add(Alert(service_id=secret_service.id, incident_id=incident.id, dedup_key="disk-full",
                         status="triggered", origin="events_v2", severity="critical", summary="disk 100% on db-7",
                         source="prom-1", custom_details={"token": "s3cr3t-payload"}, occurrences=1,
                         created_at=clock.now(), last_seen_at=clock.now()))
    component = make_component(f"Checkout {EVIL}", description=f"About {EVIL}")
    service.publish_update(actor(responder), incident, "investigating", f"Body {EVIL}", clock.now(),
                           title=f"Title {EVIL}", components={component: "major_outage"})
    service.publish_postmortem(actor(responder), incident, f"Summary {EVIL}", clock.now())
    service.update_settings(SYSTEM, clock.now(), name=f"Acme {EVIL}", about=f"About us {EVIL}")
    maintenance.schedule(SYSTEM, title=f"Window {EVIL}", starts_at=T0 + timedelta(hours=1),
                         ends_at=T0 + timedelta(hours=2), services=[world.checkout], now=clock.now(),
                         description=f"Details {EVIL}", public=True)
    db.session.commit()
    public = db.session.scalar(sa.select(PublicIncident))
    window = db.session.scalar(sa.select(MaintenanceWindow))
    urls = ["/status", f"/status/incidents/{public.public_id}", f"/status/maintenance/{window.public_id}",
            "/status/history", "/status/subscribe", "/status/feed.atom", "/api/v2/summary.json",
            "/api/v2/incidents.json", "/api/v2/scheduled-maintenances.json"]
    for url in urls:
        text = page_text(client, url)
        for secret in ("db-7", "hunter2", "10.0.0.7", "s3cr3t", "Rita", "payments-db", "prom-1", "SEV-1"):
            assert secret not in text, (url, secret)
        if not url.startswith("/api/"):
            assert "<script>alert" not in text and "<img src=x" not in text, url
    html = page_text(client, f"/status/incidents/{public.public_id}")
    assert "Title &lt;script&gt;" in html and "Body &lt;script&gt;" in html and "Summary &lt;script&gt;" in html
    assert client.get("/api/v2/summary.json").json["incidents"][0]["name"] == f"Title {EVIL}"


@pytest.mark.db
def test_incidents_show_by_day_with_their_updates_and_post_mortem(world, client):
    clock.set(T0 - timedelta(days=3))
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title="x", severity=2, now=clock.now())
    service.publish_update(SYSTEM, incident, "investigating", "Payments fail.", clock.now(), title="Payments failing",
                           components={world.cards: "major_outage"})
    service.publish_update(SYSTEM, incident, "resolved", "Fixed by a rollback.", clock.advance(timedelta(hours=1)))
    service.publish_postmortem(SYSTEM, incident, "## What happened\nA bad deploy.", clock.now())
    db.session.commit()
    clock.set(T0)
    html = page_text(client)
    assert "27 Feb 2026" in html and "Payments failing" in html and "Fixed by a rollback." in html
    public = db.session.scalar(sa.select(PublicIncident))
    detail = page_text(client, f"/status/incidents/{public.public_id}")
    assert "<h2>What happened</h2>" in detail and "Post-mortem" in detail
    assert detail.index("Fixed by a rollback.") < detail.index("Payments fail.")  # newest first
    assert "Affected components: Card payments" in detail
    assert client.get("/status/incidents/nosuchthing1").status_code == 404


@pytest.mark.db
def test_active_maintenance_and_what_is_coming(world, client):
    maintenance.schedule(SYSTEM, title="Switch swap", starts_at=T0, ends_at=T0 + timedelta(hours=1),
                         services=[world.checkout], now=clock.now(), public=True)
    maintenance.schedule(SYSTEM, title="Database upgrade", starts_at=T0 + timedelta(days=2),
                         ends_at=T0 + timedelta(days=2, hours=1), services=[world.checkout], now=clock.now(),
                         public=True)
    maintenance.schedule(SYSTEM, title="Internal only", starts_at=T0 + timedelta(days=2),
                         ends_at=T0 + timedelta(days=2, hours=1), services=[world.checkout], now=clock.now())
    db.session.commit()
    html = page_text(client)
    assert "Service Under Maintenance" in html and "Maintenance in progress" in html and "Switch swap" in html
    assert "Scheduled maintenance" in html and "Database upgrade" in html and "Internal only" not in html
    assert "Under maintenance" in html


@pytest.mark.db
def test_the_feed_is_atom_with_escaped_html(world, client):
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title="x", severity=2, now=clock.now())
    service.publish_update(SYSTEM, incident, "investigating", f"Body {EVIL}", clock.now(), title="Payments failing")
    db.session.commit()
    answer = client.get("/status/feed.atom")
    assert answer.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(answer.data)
    assert feed.find(f"{ATOM}title").text == "Firebreak status"
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == "Payments failing"
    assert entry.find(f"{ATOM}link").get("href").startswith("http://localhost/status/incidents/")
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html" and "<strong>Investigating</strong>" in content.text
    assert "&lt;script&gt;" in content.text and "<script>" not in content.text


@pytest.mark.db
def test_the_history_pages_through_older_incidents(world, client):
    for n in range(30):
        clock.set(T0 - timedelta(days=60 - n))
        incident = incidents.open_incident(SYSTEM, service=world.checkout, title="x", severity=3, now=clock.now())
        service.publish_update(SYSTEM, incident, "resolved", "Over", clock.now(), title=f"Blip {n:02d}")
    db.session.commit()
    first = page_text(client, "/status/history")
    assert "Blip 29" in first and "Blip 05" in first and "Blip 04" not in first and "Older →" in first
    second = page_text(client, "/status/history?page=2")
    assert "Blip 04" in second and "Blip 00" in second and "← Newer" in second
    assert "January 2026" in second or "January 2026" in first


@pytest.mark.db
def test_the_subscribe_form_works_without_javascript(world, client):
    html = page_text(client, "/status/subscribe")
    assert '<form method="post" action="/status/subscribe"' in html and "csrf_token" not in html
    for label in ("Email address", "Mobile number", "Webhook URL", "Card payments", "Public API"):
        assert label in html
    assert re.search(r'<label for="email">Email address</label>', html)


@pytest.mark.db
def test_brand_stylesheet_and_logo(world, client):
    service.update_settings(SYSTEM, clock.now(), name="Acme", brand_color="#ffcc00")
    service.set_logo(SYSTEM, b"\x89PNG\r\n\x1a\n" + b"\x01" * 40, clock.now())
    db.session.commit()
    html = page_text(client)
    settings = service.get_settings()
    assert f'src="/status/logo?v={settings.logo_hash}" alt="Acme"' in html and "Acme status" in html
    css = client.get(re.search(r'href="(/status/brand.css\?v=\w+)"', html).group(1))
    assert css.headers["Content-Type"].startswith("text/css") and "--sp-brand: #ffcc00" in css.get_data(as_text=True)
    assert "immutable" in css.headers["Cache-Control"]
    logo = client.get(f"/status/logo?v={settings.logo_hash}")
    assert logo.headers["Content-Type"] == "image/png" and logo.data.startswith(b"\x89PNG")


# --- admin ------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client):
    login(client, make_user(Role.ADMIN, name="Avery Admin"))
    return client


@pytest.mark.db
def test_admins_make_and_change_components_and_groups(world, admin_client):
    assert "Card payments" in page_text(admin_client, "/admin/status/")
    answer = admin_client.post("/admin/status/groups/new", data={"name": "Platform", "position": "5"})
    assert answer.status_code == 303
    group = db.session.scalar(sa.select(ComponentGroup).where(ComponentGroup.name == "Platform"))
    answer = admin_client.post("/admin/status/components/new", data={
        "name": "Sign-in", "description": "Accounts", "group_id": str(group.id),
        "service_ids": [str(world.checkout.id)], "showcase": "y"})
    assert answer.status_code == 303
    component = db.session.scalar(sa.select(Component).where(Component.name == "Sign-in"))
    assert component.group_id == group.id and component.services == [world.checkout] and component.showcase
    clash = admin_client.post("/admin/status/components/new", data={"name": "sign-in", "group_id": ""})
    assert clash.status_code == 400 and b"already one called" in clash.data
    answer = admin_client.post(f"/admin/status/components/{component.id}/edit", data={
        "name": "Sign-in and accounts", "group_id": "", "position": "7"})
    assert answer.status_code == 303
    db.session.refresh(component)
    assert (component.name, component.group_id, component.position, component.showcase) == \
        ("Sign-in and accounts", None, 7, False)
    admin_client.post(f"/admin/status/components/{component.id}/status", data={f"c{component.id}-status": "partial_outage"})
    db.session.refresh(component)
    assert component.status.value == "partial_outage"
    assert "Partial System Outage" in page_text(admin_client, "/status")
    component_id = component.id
    admin_client.post(f"/admin/status/groups/{group.id}/delete")
    admin_client.post(f"/admin/status/components/{component_id}/delete")
    db.session.expire_all()
    assert db.session.get(Component, component_id) is None


@pytest.mark.db
def test_admins_brand_the_page(world, admin_client):
    answer = admin_client.post("/admin/status/settings", data={"name": "Acme", "time_zone": "Europe/Berlin",
                                                              "brand_color": "#aa0000", "about": "Hi",
                                                              "support_url": "https://help.example.com"})
    assert answer.status_code == 303
    assert service.get_settings().time_zone == "Europe/Berlin"
    bad = admin_client.post("/admin/status/settings", data={"name": "Acme", "time_zone": "Nowhere",
                                                           "brand_color": "#aa0000"})
    assert bad.status_code == 400 and b"Unknown time zone" in bad.data
    from io import BytesIO
    logo = admin_client.post("/admin/status/logo", data={"logo": (BytesIO(b"GIF89a" + b"\x00" * 20), "logo.gif")},
                             content_type="multipart/form-data")
    assert logo.status_code == 303 and service.get_settings().logo_type == "image/gif"
    svg = admin_client.post("/admin/status/logo", data={"logo": (BytesIO(b"<svg/>"), "logo.svg")},
                            content_type="multipart/form-data")
    assert svg.status_code == 400 and b"PNG, JPEG or GIF" in svg.data
    html = page_text(admin_client, "/status")
    assert "Acme status" in html and "https://help.example.com" in html


@pytest.mark.db
def test_only_admins_reach_the_status_page_settings(world, client):
    login(client, make_user(Role.RESPONDER))
    assert client.get("/admin/status/").status_code == 403
    assert client.post("/admin/status/components/new", data={"name": "x"}).status_code == 403


# --- the incident page ------------------------------------------------------------------------------

@pytest.fixture
def responder_client(client, world):
    """A responder who manages checkout-api's team (maintenance is its managers')."""
    rita = make_user(Role.RESPONDER, name="Rita Responder")
    team = make_team("Payments")
    people.add_member(SYSTEM, team, rita, is_manager=True)
    world.checkout.team_id = team.id
    db.session.commit()
    login(client, rita)
    return client


@pytest.mark.db
def test_responders_publish_from_the_incident_page(world, responder_client):
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title="db-7 disk full", severity=2,
                                       now=clock.now())
    db.session.commit()
    page = page_text(responder_client, f"/incidents/{incident.id}")
    assert "Not on the status page" in page and "Publish to the status page" in page
    assert f'name="impact-{world.cards.public_id}"' in page
    missing = responder_client.post(f"/incidents/{incident.id}/public", data={"stage": "investigating",
                                                                             "body": "Looking"})
    assert missing.status_code == 400 and b"public title" in missing.data
    answer = responder_client.post(f"/incidents/{incident.id}/public", data={
        "title": "Card payments failing", "stage": "investigating", "body": "Some payments fail.",
        f"impact-{world.cards.public_id}": "major_outage", "notify": "y"})
    assert answer.status_code == 303
    db.session.refresh(world.cards)
    assert world.cards.status.value == "major_outage"
    page = page_text(responder_client, f"/incidents/{incident.id}")
    assert "Public as" in page and "Card payments failing" in page and "Status page: Investigating" in page
    fragment = responder_client.post(f"/incidents/{incident.id}/public", headers={"HX-Request": "true"}, data={
        "stage": "resolved", "body": "All good.", f"impact-{world.cards.public_id}": "major_outage"})
    assert fragment.status_code == 200 and b"<html" not in fragment.data and b'id="public-status"' in fragment.data
    assert b"Resolved" in fragment.data
    db.session.refresh(world.cards)
    assert world.cards.status.value == "operational"
    post = responder_client.post(f"/incidents/{incident.id}/public/postmortem", data={"postmortem": "A disk filled."})
    assert post.status_code == 303
    assert "A disk filled." in page_text(responder_client, f"/status/incidents/{db.session.scalar(sa.select(PublicIncident.public_id))}")


@pytest.mark.db
def test_viewers_cannot_publish(world, client):
    login(client, make_user(Role.VIEWER))
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title="x", severity=2, now=clock.now())
    db.session.commit()
    assert client.post(f"/incidents/{incident.id}/public", data={"title": "t", "stage": "investigating",
                                                                 "body": "b"}).status_code == 403


# --- maintenance pages --------------------------------------------------------------------------------

@pytest.mark.db
def test_scheduling_an_announced_window_from_the_maintenance_page(world, responder_client):
    answer = responder_client.post("/maintenance/new", data={
        "title": "Database upgrade", "service_ids": [str(world.checkout.id)],
        "starts_at": "2026-03-03T01:00", "ends_at": "2026-03-03T02:00", "description": "A short pause.",
        "public": "y", "component_ids": [str(world.api.id)]})
    assert answer.status_code == 303
    window = db.session.scalar(sa.select(MaintenanceWindow))
    assert window.public and window.components == [world.api]
    html = page_text(responder_client, "/maintenance/")
    assert "On the status page" in html and "Post an update for customers" in html
    answer = responder_client.post(f"/maintenance/{window.id}/public-update", data={"body": "Still on schedule."})
    assert answer.status_code == 303
    public = page_text(responder_client, f"/status/maintenance/{window.public_id}")
    assert "Still on schedule." in public and "A short pause." in public


@pytest.mark.db
def test_the_demo_has_a_status_page_with_history_once(app, client, tmp_path):
    app.instance_path = str(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    summary = client.get("/api/v2/summary.json").json
    assert summary["page"]["name"] == "Acme Shop"
    assert [c["name"] for c in summary["components"] if c["group"]] == ["Payments", "Platform", "Storefront"]
    assert len([c for c in summary["components"] if not c["group"]]) == 6
    incidents_ = client.get("/api/v2/incidents.json").json["incidents"]
    assert [i["name"] for i in incidents_] == ["Order emails delayed", "Slow search and product pages",
                                               "Card payments declined for some customers"]
    assert all(i["status"] == "resolved" for i in incidents_)
    html = page_text(client)
    assert "Card payments declined" not in html or "Order emails delayed" in html
    assert html.count('<div class="bars">') == 6 and "<details" in html


@pytest.mark.db
def test_admins_see_and_remove_subscribers(world, admin_client):
    from app.statuspage import subscribers
    from app.statuspage.models import Subscriber
    subscribers.subscribe("email", "ana@example.com", clock.now())
    subscribers.subscribe("webhook", "https://hooks.example.com/x", clock.now(), email="ops@example.com",
                          components=[world.cards])
    db.session.commit()
    html = page_text(admin_client, "/admin/status/subscribers")
    assert "ana@example.com" in html and "https://hooks.example.com/x" in html and "waiting for confirmation" in html
    assert "Card payments" in html
    subscriber = db.session.scalar(sa.select(Subscriber).where(Subscriber.address == "ana@example.com"))
    assert admin_client.post(f"/admin/status/subscribers/{subscriber.id}/delete").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1


@pytest.mark.db
def test_links_that_do_not_work_say_so_and_unsubscribing_can_be_undone(world, client):
    from app.statuspage import subscribers
    for url in ("/status/subscribe/confirm/1-" + "0" * 32, "/status/unsubscribe/nonsense",
                "/status/unsubscribe/99-" + "a" * 32):
        answer = client.get(url)
        assert answer.status_code == 404 and b"does not work" in answer.data
    subscribers.subscribe("email", "ana@example.com", clock.now())
    db.session.commit()
    subscriber = db.session.scalar(sa.select(subscribers.Subscriber))
    client.get(f"/status/subscribe/confirm/{subscribers.token(subscriber, 'confirm')}")
    unsubscribe = f"/status/unsubscribe/{subscribers.token(subscriber, 'unsubscribe')}"
    assert client.post(unsubscribe).status_code == 200  # RFC 8058 one-click POST
    db.session.refresh(subscriber)
    assert not subscriber.active
    undo = client.post(unsubscribe + "/undo")
    assert undo.status_code == 200 and b"subscribed again" in undo.data
    db.session.refresh(subscriber)
    assert subscriber.active
    # a confirmation link cannot stand in for an unsubscribe link
    assert client.get(f"/status/unsubscribe/{subscribers.token(subscriber, 'confirm')}").status_code == 404


@pytest.mark.db
def test_head_and_a_missing_logo(world, client):
    head = client.head("/status")
    assert head.status_code == 200 and head.data == b"" and int(head.headers["Content-Length"]) > 1000
    assert client.get("/status/logo").status_code == 404
