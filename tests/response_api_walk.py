"""The response part of the API walk in tests/test_api.py: roles, tasks, updates, the
stakeholder lists and templates, with every status their document promises (each
answer is checked against the document by the walk's `Api` client)."""
from __future__ import annotations

from datetime import timedelta

from app import clock
from app.comms import stakeholders
from app.extensions import db
from app.incidents import service as lifecycle
from tests.factories import SYSTEM


def walk_response(w, incident) -> dict[str, tuple[str, str]]:
    """Call every response route on `incident` (and a SEV-1 of its own); returns, per
    path parameter, a real and a missing value."""
    now = clock.now()
    sev1 = lifecycle.open_incident(SYSTEM, service=w.service, title="Card payments fail", severity=1, now=now)
    board = stakeholders.create_list(SYSTEM, now, name="API executives", severities=[1])
    stakeholders.add_member(SYSTEM, board, now, user_id=w.admin.id)
    db.session.commit()
    base = f"/incidents/{incident.id}"
    on_sev1 = f"/incidents/{sev1.id}"

    # Reads.
    w.as_viewer.get(f"{base}/roles")
    w.as_viewer.get(f"{base}/tasks")
    w.as_viewer.get(f"{base}/updates")
    w.as_viewer.get("/stakeholder_lists")
    w.as_viewer.get("/comms_templates")

    # Writes that succeed.
    assert w.as_responder.post(f"{base}/roles", {"role": "commander", "user_id": w.responder.id}).status_code == 200
    task = w.as_responder.post(f"{base}/tasks", {"title": "Roll back", "owner_id": w.responder.id,
                                                 "due_at": (now + timedelta(minutes=15)).isoformat()})
    assert task.status_code == 201
    assert w.as_responder.post(f"{base}/tasks/{task.json['id']}", {"done": True}).json["done"] is True
    sent = w.as_responder.post(f"{on_sev1}/updates", {"template": "management", "stage": "identified",
                                                      "stakeholder_list_ids": [board.id]})
    assert sent.status_code == 201 and sent.json["on_time"] is True
    w.as_viewer.get(f"{on_sev1}/updates")

    # Bad input: each says what is wrong, and nothing is sent.
    w.as_responder.post(f"{base}/roles", {"role": "captain", "user_id": 0})
    w.as_responder.post(f"{base}/tasks", {"title": "  "})
    w.as_responder.post(f"{base}/tasks/{task.json['id']}", {"done": "yes"})
    refused = w.as_responder.post(f"{on_sev1}/updates", {"body": "Hello {{ nobody }}", "stakeholder_list_ids": [board.id]})
    assert refused.status_code == 400 and "{{ nobody }}" in refused.json["error"]
    return {"{task_id}": (str(task.json["id"]), "9999")}
