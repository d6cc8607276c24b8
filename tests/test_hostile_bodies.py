"""Hostile input, bodies: oversized and malformed bodies, wrong content types,
invalid UTF-8, deep JSON, NUL bytes, huge numbers and dedup keys, dates out of
range, sent to every door that reads a body. Each gets a 4xx that says what was
wrong (never a 500), and a refused request changes no row.
"""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.alerts.models import Alert
from app.extensions import db
from app.incidents.models import Incident
from tests.problems import listed
from tests.factories import login
from tests.hostile import database_url, demo_template, digest, tally, tokens  # noqa: F401

KEY = "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"  # the demo's checkout-api integration key


def event(**changes) -> dict:
    body = {"routing_key": KEY, "event_action": "trigger", "dedup_key": "hostile",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "error"}}
    payload = changes.pop("payload", {})
    body["payload"].update(payload)
    body.update(changes)
    return body


def deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# Bodies that are not events, whatever door they are sent to.
MALFORMED = {
    "empty": b"",
    "not JSON": b"{routing_key: 1",
    "invalid UTF-8": b'{"routing_key": "\xff\xfe"}',
    "overlong UTF-8": b'{"a": "\xc0\xaf"}',
    "lone surrogate": b'{"a": "\\ud800"}',
    "UTF-16": json.dumps({"a": 1}).encode("utf-16"),
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": deep(50_000).encode(),
    "a number with 5000 digits": b'{"a": ' + b"9" * 5000 + b"}",
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": 1e999}',
    "an array": b"[1, 2]",
    "a string": b'"trigger"',
    "null": b"null",
    "NUL": b"\x00",
    "over 512 KB": json.dumps({"a": "x" * (600 * 1024)}).encode(),
}
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/xml", "application/json; charset=latin-1", None]
JSON_DOORS = ["/v2/enqueue", "/v2/change/enqueue", f"/integrations/alertmanager/{KEY}", "/api/v1/incidents",
              "/api/v1/incidents/1/notes", "/api/v1/services", "/api/v1/status_page/components"]


@pytest.mark.parametrize("door", JSON_DOORS)
def test_malformed_bodies_are_refused_with_a_reason_and_change_nothing(app, client, tokens, tally, door):
    headers = {"Authorization": f"Bearer {tokens['admin']}"} if door.startswith("/api/") else {}
    before = digest()
    for name, body in MALFORMED.items():
        for content_type in CONTENT_TYPES:
            answer = client.post(door, data=body, headers=headers, content_type=content_type, csrf=False)
            tally.saw(answer.status_code)
            assert 400 <= answer.status_code < 500, (name, content_type, answer.status_code, answer.data[:300])
            assert answer.is_json, (name, content_type)
            if name == "over 512 KB":
                assert answer.status_code == 413
    assert digest() == before


@pytest.mark.parametrize("changes,error", [
    ({"dedup_key": "k" * 256}, "'dedup_key' is too long (at most 255 characters)"),
    ({"dedup_key": "k" * 400_000}, "'dedup_key' is too long (at most 255 characters)"),
    ({"dedup_key": ["a"]}, "'dedup_key' must be a string"),
    ({"dedup_key": {"a": 1}}, "'dedup_key' must be a string"),
    ({"dedup_key": True}, "'dedup_key' must be a string"),
    ({"routing_key": KEY + "\x00"}, "Length of 'routing_key' is incorrect (should be 32 characters)"),
    ({"routing_key": 12345678901234567890123456789012}, "'routing_key' must be a string"),
    ({"event_action": ["trigger"]}, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"),
    ({"event_action": {"trigger": 1}}, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"),
    ({"payload": {"severity": ["error"]}}, "'payload.severity' is invalid (must be one of: critical, error, warning, info)"),
    ({"payload": {"summary": "x" * 400_000}}, "'payload.summary' is too long (at most 1024 characters)"),
    ({"payload": {"summary": " \t\n "}}, "'payload.summary' is missing or blank"),
    ({"payload": {"timestamp": "0001-01-01T00:00:00+01:00"}}, "'payload.timestamp' is not an ISO 8601 timestamp"),
    ({"payload": {"timestamp": "9999-12-31T23:59:59-01:00"}}, "'payload.timestamp' is not an ISO 8601 timestamp"),
    ({"payload": {"timestamp": "2026-02-30T00:00:00Z"}}, "'payload.timestamp' is not an ISO 8601 timestamp"),
    ({"payload": {"timestamp": "0001-01-01T00:00:00Z"}}, "'payload.timestamp' is not an ISO 8601 timestamp"),
    ({"payload": {"timestamp": 1700000000}}, "'payload.timestamp' is not an ISO 8601 timestamp"),
    ({"links": [{"href": ["x"]}]}, "'links' must be a list of objects, each with an 'href'"),
    ({"links": "https://example.com"}, "'links' must be a list of objects, each with an 'href'"),
    ({"images": [{"src": None}]}, "'images' must be a list of objects, each with a 'src'"),
])
def test_bad_fields_are_named_and_change_nothing(app, client, tally, changes, error):
    before = digest()
    answer = client.post("/v2/enqueue", json=event(**changes))
    tally.saw(answer.status_code)
    assert answer.status_code == 400 and error in answer.json["errors"], answer.json
    assert digest() == before


def test_a_255_character_dedup_key_of_any_script_folds(app, client):
    key = ("ключ-🔥-" * 40)[:255]
    for _ in range(3):
        assert client.post("/v2/enqueue", json=event(dedup_key=key)).json["dedup_key"] == key
    alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == key))
    assert alert.occurrences == 3


@pytest.mark.parametrize("text", ["nul \x00 inside", "\x00", "bell \x07 and escape \x1b[31m", "bidi \u202e\u2066",
                                  "\ufeffbom", "astral \U0001f525\U000e0001"])
def test_control_characters_and_nul_in_text_are_taken_or_refused_never_a_500(app, client, tokens, text):
    """NUL is where PostgreSQL and SQLite differ: whatever is kept, kept the same on both."""
    answer = client.post("/v2/enqueue", json=event(dedup_key=text, payload={
        "summary": text, "source": text, "component": text, "custom_details": {text: text}}))
    assert answer.status_code in (202, 400), answer.json
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    made = client.post("/api/v1/incidents", json={"title": text, "service_id": 1, "severity": 3,
                                                  "description": text}, headers=headers)
    assert made.status_code in (201, 400), made.json


def test_deeply_nested_custom_details_are_kept_and_shown(app, client):
    """A JSON document the decoder takes must not be too deep for the pages that show it."""
    details = json.loads(deep(900))
    answer = client.post("/v2/enqueue", json=event(dedup_key="deep", payload={"custom_details": details}))
    assert answer.status_code in (202, 400), answer.json
    if answer.status_code == 400:
        return
    alert = db.session.scalar(sa.select(Alert).where(Alert.dedup_key == "deep"))
    from tests.factories import make_user
    from app.auth.models import Role
    login(client, make_user(Role.VIEWER))
    assert client.get(f"/alerts/{alert.id}").status_code == 200
    assert client.get(f"/incidents/{alert.incident_id}").status_code == 200


@pytest.mark.parametrize("door", ["/twilio/sms", "/twilio/status", "/twilio/voice/1", "/twilio/voice/1/keypress"])
def test_twilio_doors_refuse_anything_unsigned_whatever_its_shape(app, client, door):
    before = digest()
    for body in MALFORMED.values():
        for content_type in CONTENT_TYPES:
            answer = client.post(door, data=body, content_type=content_type, csrf=False,
                                 headers={"X-Twilio-Signature": "x" * 28})
            # 400: a form holding a NUL is refused before the signature is checked (app.nul).
            assert answer.status_code in (400, 403, 413), (door, content_type, answer.status_code)
    assert digest() == before


def test_incident_counts_are_untouched_by_all_of_it(app):
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) > 0


@pytest.mark.parametrize("url", [
    "/api/v1/change_events?since=0001-01-01T00:00:00%2B01:00",
    "/api/v1/change_events?since=9999-12-31T23:59:59-01:00",
    "/api/v1/oncall?at=0001-01-01T00:30:00%2B01:00",
    "/api/v1/schedules/1/shifts?start=0001-01-01T00:00:00%2B05:00",
    "/api/v1/schedules/1/overrides?since=9999-12-31T23:00:00-05:00",
])
def test_times_that_leave_the_calendar_in_utc_are_refused(app, client, tokens, url):
    answer = client.get(url, headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert answer.status_code == 400, (url, answer.status_code, answer.data[:300])
    assert "between the years 1900 and 9000" in " ".join(listed(answer))


@pytest.mark.parametrize("method,url,body,status", [
    ("GET", "/api/v1/incidents?q=²", None, 200),                         # "²" is a digit int() refuses
    ("GET", "/api/v1/incidents?page=²", None, 400),
    ("GET", "/api/v1/incidents?page=" + "9" * 5_000, None, 400),          # int() refuses 4,300+ digits
    ("GET", "/api/v1/incidents?severity=²", None, 400),
    ("GET", "/api/v1/oncall?at=%C2%85", None, 400),                      # not empty: U+0085 is no time
    ("GET", "/api/v1/schedules/1/oncall?at=0001-01-01T00:00:00Z", None, 400),  # a window before year 1
    ("GET", "/api/v1/insights/metrics?end_date=0001-01-01", None, 400),
    ("GET", "/api/v1/insights/metrics?time_zone=" + "0" * 300, None, 400),  # ZoneInfo: OSError, name too long
    ("GET", f"/api/v1/incidents/{2**63}", None, 404),                    # past SQLite's integer
    ("POST", f"/api/v1/incidents/{2**31}/tasks", {"title": "x"}, 404),   # not 405 (GET shares the path)
    ("POST", "/api/v1/services", {"name": "x", "severity_mapping": {"info": []}}, 400),  # `[] in dict`
    ("POST", "/api/v1/incidents/1/resolve", b" \t\r\n", 400),           # whitespace is no JSON document
    ("POST", "/api/v1/status_page/components/3", b"\x0b", 400),
])
def test_what_the_full_strength_runs_found_at_the_api(app, client, tokens, method, url, body, status):
    """Each answered 500 or a code the API document does not give, until fixed."""
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    before = digest()
    if isinstance(body, bytes):
        answer = client.open(url, method=method, data=body, content_type="application/json", headers=headers)
    else:
        answer = client.open(url, method=method, json=body, headers=headers)
    assert answer.status_code == status and answer.is_json, (answer.status_code, answer.data[:300])
    assert digest() == before


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "9999-12-31T23:59:59Z"])
def test_a_change_at_the_calendars_ends_is_refused(app, client, timestamp):
    """It looked back four hours for the incidents it concerns: OverflowError, a 500
    (found once the generated change events carried the real routing key)."""
    before = digest()
    answer = client.post("/v2/change/enqueue", json={"routing_key": KEY, "payload": {"summary": "Deploy",
                                                                                     "timestamp": timestamp}})
    assert answer.status_code == 400 and "'payload.timestamp' is not an ISO 8601 timestamp" in answer.json["errors"]
    assert digest() == before
