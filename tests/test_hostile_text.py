"""Hostile input, text the databases disagree on: NUL and other control characters,
lone surrogates, astral characters, in every door that stores text. SQLite keeps a
NUL; PostgreSQL refuses it in text and in jsonb. Either way the answer is a 2xx or a
4xx with a reason, never a 500, and what is kept reads back the same on both.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert
from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from app.incidents.models import Incident
from app.services.models import IntegrationKey
from tests.factories import SYSTEM, login, make_service, make_user
from tests.hostile import T0

KEY = "7" * 32
TEXTS = ["nul \x00 inside", "\x00", "bell \x07 escape \x1b[31m", "bidi \u202e\u2066", "\ufeffbom",
         "astral \U0001f525", "json escape \\u0000 as text"]


@pytest.fixture
def world(app):
    clock.set(T0)
    service = make_service("hostile-text", with_key=False)
    db.session.add(IntegrationKey(service=service, key=KEY, name="Prometheus", created_at=T0))
    admin = make_user(Role.ADMIN, name="Ada")
    _, secret = people.create_api_token(SYSTEM, admin, name="t")
    db.session.commit()
    return service, admin, {"Authorization": f"Bearer {secret}"}


@pytest.mark.db
@pytest.mark.parametrize("text", TEXTS)
def test_text_with_control_characters_is_kept_or_refused_never_a_500(client, world, text):
    service, admin, headers = world
    event = {"routing_key": KEY, "event_action": "trigger", "dedup_key": f"k{text}",
             "payload": {"summary": f"s{text}", "source": text, "severity": "error", "component": text,
                         "custom_details": {text: text, "list": [text]}},
             "links": [{"href": "https://example.com/" + text, "text": text}]}
    answer = client.post("/v2/enqueue", json=event)
    assert answer.status_code in (202, 400), answer.json
    change = client.post("/v2/change/enqueue", json={"routing_key": KEY, "payload": {"summary": f"d{text}",
                                                                                     "custom_details": {"t": text}}})
    assert change.status_code in (202, 400), change.json
    made = client.post("/api/v1/incidents", json={"title": f"t{text}", "service_id": service.id, "severity": 3,
                                                  "description": text}, headers=headers)
    assert made.status_code in (201, 400), made.json
    if made.status_code == 201:
        note = client.post(f"/api/v1/incidents/{made.json['id']}/notes", json={"text": f"n{text}"}, headers=headers)
        assert note.status_code in (201, 400), note.json
    login(client, admin)
    form = client.post("/incidents/new", data={"title": f"f{text}", "service_id": service.id, "severity": "3",
                                               "description": text})
    assert form.status_code in (200, 303, 400, 422), form.status_code
    db.session.rollback()
    for alert in db.session.scalars(sa.select(Alert)):
        assert "\x00" not in alert.summary + alert.dedup_key + alert.source
    for incident in db.session.scalars(sa.select(Incident)):
        assert "\x00" not in incident.title + (incident.description or "")


@pytest.mark.db
@pytest.mark.parametrize("method,url,data", [
    ("GET", "/alerts?q=a%00b", None),
    ("GET", "/incidents?q=%00", None),
    ("GET", "/postmortems/search?q=%00", None),
    ("GET", "/heartbeats/" + "0" * 31 + "%00", None),
    ("POST", "/integrations/alertmanager/" + "0" * 31 + "%00", None),
    ("GET", "/status/unsubscribe/%00", None),
    ("GET", "/admin/comms-templates/a%00/edit", None),
    ("POST", "/teams/new", {"name": "Ops\x00"}),
    ("POST", "/services/new", {"name": "svc\x00", "description": "x"}),
    ("POST", "/status/subscribe", {"email": "a\x00@example.com"}),
])
def test_a_nul_in_a_path_query_or_form_is_refused(client, world, method, url, data):
    service, admin, headers = world
    login(client, admin)
    answer = client.open(url, method=method, data=data)
    assert answer.status_code == 400, (url, answer.status_code)
    assert b"NUL character" in answer.data
