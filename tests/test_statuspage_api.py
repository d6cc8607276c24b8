"""The Statuspage-compatible JSON at /api/v2: every answer key for key in Statuspage's
shapes (tests/samples/statuspage-v2.json), the right records in each, and the
indicator with Statuspage's words."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import clock
from app.extensions import db
from app.incidents import service as incidents
from app.services import maintenance
from app.statuspage import service
from tests.factories import SYSTEM, make_component, make_group, make_service

SAMPLE = json.loads((Path(__file__).parent / "samples" / "statuspage-v2.json").read_text())["summary"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
ENDPOINTS = ["summary", "status", "components", "incidents", "incidents/unresolved", "scheduled-maintenances",
             "scheduled-maintenances/upcoming", "scheduled-maintenances/active"]


def same_shape(ours, theirs, path="$"):
    """`ours` has exactly the keys of `theirs` at every level, with the same kinds of value
    (null stands in for any kind, as Statuspage's own answers mix them)."""
    if theirs is None or ours is None:
        return
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(theirs), (path, sorted(set(ours) ^ set(theirs)))
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        for n, item in enumerate(ours):
            templates = [t for t in theirs if not isinstance(t, dict) or t.get("group") == item.get("group")] \
                if isinstance(item, dict) else theirs
            if templates:
                same_shape(item, templates[0], f"{path}[{n}]")
    else:
        assert type(ours) is type(theirs), (path, ours, theirs)
        if isinstance(theirs, str) and TIME.match(theirs):
            assert TIME.match(ours), (path, ours)


@pytest.fixture
def page(app, client):
    clock.set(T0 - timedelta(days=1))
    checkout = make_service("checkout-api")
    group = make_group("Payments")
    cards = make_component("Card payments", group=group, services=[checkout], description="Card authorisation")
    cart = make_component("Checkout", group=group)
    api = make_component("Public API")
    old = incidents.open_incident(SYSTEM, service=checkout, title="old", severity=3, now=clock.now())
    service.publish_update(SYSTEM, old, "investigating", "Slow pages", clock.now(), title="Slow pages",
                           components={api: "degraded_performance"})
    service.publish_update(SYSTEM, old, "resolved", "Fast again", clock.advance(timedelta(minutes=30)))
    clock.set(T0)
    current = incidents.open_incident(SYSTEM, service=checkout, title="internal", severity=2, now=clock.now())
    service.publish_update(SYSTEM, current, "investigating", "Card payments fail.", clock.now(),
                           title="Card payments failing", components={cards: "partial_outage"})
    service.publish_update(SYSTEM, current, "identified", "We found the cause.", clock.advance(timedelta(minutes=14)))
    upcoming = maintenance.schedule(SYSTEM, title="Database upgrade", starts_at=T0 + timedelta(days=1),
                                    ends_at=T0 + timedelta(days=1, hours=1), services=[checkout], now=clock.now(),
                                    description="Payments pause for a minute.", public=True, components=[cart])
    active = maintenance.schedule(SYSTEM, title="Switch swap", starts_at=clock.now(),
                                  ends_at=clock.now() + timedelta(hours=1), services=[checkout], now=clock.now(),
                                  public=True, components=[api])
    db.session.commit()
    return type("Page", (), {"client": client, "cards": cards, "cart": cart, "api": api, "group": group,
                             "upcoming": upcoming, "active": active})


def get(client, name: str, **headers):
    answer = client.get(f"/api/v2/{name}.json", headers=headers)
    assert answer.status_code == 200, answer.data
    return answer


@pytest.mark.db
def test_every_answer_has_statuspages_shape(page):
    docs = {name: get(page.client, name).json for name in ENDPOINTS}
    same_shape(docs["summary"], SAMPLE)
    assert list(docs["summary"]) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    same_shape(docs["status"], {"page": SAMPLE["page"], "status": SAMPLE["status"]})
    same_shape(docs["components"], {"page": SAMPLE["page"], "components": SAMPLE["components"]})
    for name in ("incidents", "incidents/unresolved"):
        same_shape(docs[name], {"page": SAMPLE["page"], "incidents": SAMPLE["incidents"]})
    for name in ("scheduled-maintenances", "scheduled-maintenances/upcoming", "scheduled-maintenances/active"):
        same_shape(docs[name], {"page": SAMPLE["page"], "scheduled_maintenances": SAMPLE["scheduled_maintenances"]})
    assert docs["incidents"]["incidents"] and docs["scheduled-maintenances"]["scheduled_maintenances"]


@pytest.mark.db
def test_the_summary_says_what_is_going_on(page):
    doc = get(page.client, "summary").json
    settings = service.get_settings()
    assert doc["page"] == {"id": settings.public_id, "name": "Firebreak", "url": "http://localhost/status",
                           "time_zone": "UTC", "updated_at": "2026-03-02T09:14:00.000Z"}
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}
    group, cards, cart, api = doc["components"]
    assert group["group"] is True and group["components"] == [page.cards.public_id, page.cart.public_id]
    assert group["status"] == "partial_outage" and group["id"] == page.group.public_id
    assert (cards["name"], cards["status"], cards["group_id"], cards["group"], cards["description"]) == \
        ("Card payments", "partial_outage", page.group.public_id, False, "Card authorisation")
    assert (api["name"], api["status"], api["group_id"]) == ("Public API", "under_maintenance", None)
    [incident] = doc["incidents"]  # unresolved only
    assert (incident["name"], incident["status"], incident["impact"]) == ("Card payments failing", "identified", "major")
    assert incident["shortlink"] == f"http://localhost/status/incidents/{incident['id']}"
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    assert incident["incident_updates"][1]["affected_components"] == [
        {"code": page.cards.public_id, "name": "Card payments", "old_status": "operational",
         "new_status": "partial_outage"}]
    assert [c["id"] for c in incident["components"]] == [page.cards.public_id]
    assert [m["name"] for m in doc["scheduled_maintenances"]] == ["Switch swap", "Database upgrade"]
    upcoming = doc["scheduled_maintenances"][1]
    assert (upcoming["status"], upcoming["impact"], upcoming["scheduled_for"], upcoming["scheduled_until"]) == \
        ("scheduled", "maintenance", "2026-03-03T09:00:00.000Z", "2026-03-03T10:00:00.000Z")
    assert upcoming["incident_updates"][0]["body"] == "Payments pause for a minute."
    assert [c["name"] for c in upcoming["components"]] == ["Checkout"]


@pytest.mark.db
def test_the_lists_hold_the_right_records(page):
    assert [i["name"] for i in get(page.client, "incidents").json["incidents"]] == \
        ["Card payments failing", "Slow pages"]
    assert [i["name"] for i in get(page.client, "incidents/unresolved").json["incidents"]] == ["Card payments failing"]
    assert [m["status"] for m in get(page.client, "scheduled-maintenances/upcoming").json["scheduled_maintenances"]] \
        == ["scheduled"]
    assert [m["status"] for m in get(page.client, "scheduled-maintenances/active").json["scheduled_maintenances"]] \
        == ["in_progress"]
    resolved = get(page.client, "incidents").json["incidents"][1]
    assert resolved["resolved_at"] == "2026-03-01T09:30:00.000Z" and resolved["impact"] == "minor"


@pytest.mark.db
def test_times_are_in_the_pages_zone(page):
    service.update_settings(SYSTEM, clock.now(), time_zone="America/New_York")
    db.session.commit()
    doc = get(page.client, "summary").json
    assert doc["page"]["time_zone"] == "America/New_York"
    assert doc["incidents"][0]["created_at"] == "2026-03-02T04:00:00.000-05:00"


@pytest.mark.parametrize("statuses,impacts,indicator,description", [
    ([], [], "none", "All Systems Operational"),
    (["operational", "under_maintenance"], [], "maintenance", "Service Under Maintenance"),
    (["degraded_performance", "under_maintenance"], [], "minor", "Minor Service Outage"),
    (["partial_outage"], ["minor"], "major", "Partial System Outage"),
    (["operational"], ["critical"], "critical", "Major System Outage"),
    (["major_outage", "degraded_performance"], [], "critical", "Major System Outage"),
])
def test_the_indicator_follows_components_and_open_incidents(statuses, impacts, indicator, description):
    from types import SimpleNamespace

    from app.statuspage.models import ComponentStatus
    from app.statuspage.public import DESCRIPTIONS, indicator as decide
    components = [SimpleNamespace(status=ComponentStatus(s)) for s in statuses]
    open_incidents = [SimpleNamespace(impact=i, is_open=True) for i in impacts]
    assert decide(components, open_incidents) == indicator
    assert DESCRIPTIONS[indicator] == description


@pytest.mark.db
def test_answers_are_cacheable_and_readable_from_other_sites(page):
    answer = get(page.client, "summary")
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Cache-Control"] == "public, no-cache"
    etag, modified = answer.headers["ETag"], answer.headers["Last-Modified"]
    again = page.client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    since = page.client.get("/api/v2/summary.json", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    zipped = page.client.get("/api/v2/summary.json", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != etag
    import gzip
    assert json.loads(gzip.decompress(zipped.data)) == answer.json
    assert zipped.headers["Vary"] == "Accept-Encoding"


@pytest.mark.db
def test_nothing_internal_reaches_the_json(page):
    everything = "".join(get(page.client, name).get_data(as_text=True) for name in ENDPOINTS)
    for secret in ("internal", "checkout-api", "SEV-", "tests"):
        assert secret not in everything
