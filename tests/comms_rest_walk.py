"""The communications part of the API walk in tests/test_api.py: webhooks, update
templates and severity levels, every route with every status its document promises
(each answer is checked against the document by the walk's `Api` client), and what
the signing secret, ETag and If-Match do."""
from __future__ import annotations

import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.comms import library
from app.comms.models import Webhook
from app.extensions import db
from app.triage import levels
from tests.factories import SYSTEM

TOO_LARGE = {"description": "x" * (600 * 1024)}
HOOK = "https://hooks.example.com/services/T1/B1/walk"


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every route of webhooks, templates and severities; returns, per path
    parameter, a real and a missing value."""
    hooks = walk_webhooks(w)
    walk_templates(w)
    walk_severity_levels(w)
    return {"{webhook_id}": (str(hooks), "9999"), "{key}": ("internal_technical", "no_such_template"),
            "{level}": ("2", "9999")}


def walk_webhooks(w) -> int:
    # Made: the secret is answered this once, and only admins see where it posts.
    made = w.as_admin.post("/webhooks", {"name": " Slack  #incidents ", "kind": "slack", "url": HOOK})
    assert made.status_code == 201 and made.json["name"] == "Slack #incidents"
    assert made.json["secret"].startswith("whsec_") and made.json["url"] == HOOK
    assert made.headers["Location"].endswith(f"/api/v1/webhooks/{made.json['id']}")
    hook_id, base = made.json["id"], f"/webhooks/{made.json['id']}"
    own = w.as_admin.post("/webhooks", {"name": "Receiver", "url": "https://receiver.example.com/in",
                                        "secret": made.json["secret"], "active": False})
    assert own.json["active"] is False and own.json["secret"] == made.json["secret"]

    as_viewer = w.as_viewer.get(base)
    assert as_viewer.json["url"] is None and "secret" not in as_viewer.json
    as_admin = w.as_admin.get(base)
    assert as_admin.json["url"] == HOOK and "secret" not in as_admin.json
    listed = w.as_viewer.get("/webhooks", per_page=1)
    assert [h["name"] for h in listed.json["webhooks"]] == ["Receiver"]
    assert listed.json["pagination"]["total"] == 2 and 'rel="next"' in listed.headers["Link"]
    w.as_viewer.get("/webhooks", per_page=500)

    # Changed, with an If-Match that holds; then a stale one changes nothing.
    etag = as_admin.headers["ETag"]
    changed = w.as_admin.call("PATCH", base, body={"name": "Slack #ops", "active": False}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json["name"] == "Slack #ops" and changed.json["active"] is False
    audited = db.session.scalars(sa.select(AuditEntry.summary).where(AuditEntry.action == "comms.webhook",
                                                                     AuditEntry.actor_user_id == w.admin.id)).all()
    assert "Changed the webhook Slack #ops: name" in audited and "Disabled the webhook Slack #ops" in audited
    assert not any(HOOK in summary for summary in audited)  # the audit log names the host, never the URL
    stale = w.as_admin.call("PATCH", base, body={"url": "https://elsewhere.example.com/"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and w.as_admin.get(base).json["url"] == HOOK
    secret_before = db.session.get(Webhook, hook_id).secret
    resigned = w.as_admin.call("PATCH", base, body={"secret": "whsec_" + "A" * 40, "active": True})
    assert "secret" not in resigned.json
    db.session.expire_all()
    assert db.session.get(Webhook, hook_id).secret not in (secret_before, "")

    # Refusals.
    bad = w.as_admin.post("/webhooks", {"name": "Loop", "url": "http://127.0.0.1:8080/hook", "colour": "red"})
    assert bad.status_code == 400 and {e.get("pointer") for e in bad.json["errors"]} == {"/colour"}
    assert w.as_admin.post("/webhooks", {"name": "Loop", "url": "http://127.0.0.1:8080/hook"}).status_code == 400
    assert w.as_admin.post("/webhooks", {"name": "Receiver", "url": HOOK}).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"name": "Receiver"}).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"kind": "irc"}).status_code == 400
    assert w.as_admin.call("PATCH", base, body=TOO_LARGE).status_code == 413
    assert w.as_viewer.call("PATCH", base, body={"active": False}).status_code == 403
    assert w.as_responder.call("DELETE", base).status_code == 403
    assert w.as_admin.call("DELETE", base, headers={"If-Match": etag}).status_code == 412

    # Deleted: gone from the API, its URL and secret forgotten, the row kept.
    assert w.as_admin.call("DELETE", f"/webhooks/{own.json['id']}").status_code == 204
    assert w.as_admin.get(f"/webhooks/{own.json['id']}").status_code == 404
    kept = db.session.get(Webhook, own.json["id"])
    assert kept.removed_at is not None and (kept.url, kept.secret) == ("", "")
    return hook_id


def walk_templates(w) -> None:
    base = "/comms_templates/internal_technical"
    one = w.as_viewer.get(base)
    assert one.json["shipped"] and not one.json["edited"]
    shipped_body = one.json["body"]
    etag = one.headers["ETag"]
    edited = w.as_admin.call("PATCH", base, body={"subject": "[{{ severity }}] {{ title }}"},
                             headers={"If-Match": etag})
    assert edited.status_code == 200 and edited.json["edited"] and edited.json["body"] == shipped_body
    assert edited.json["subject"] == "[{{ severity }}] {{ title }}"
    assert w.as_admin.call("PATCH", base, body={"body": "x"}, headers={"If-Match": etag}).status_code == 412
    unknown = w.as_admin.call("PATCH", base, body={"body": "{{ no_such_field }}"})
    assert unknown.status_code == 400 and w.as_viewer.get(base).json["subject"] == "[{{ severity }}] {{ title }}"
    w.as_admin.call("PATCH", base, body={"audience": "martians"})
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    assert w.as_viewer.call("PATCH", base, body={"active": False}).status_code == 403

    restored = w.as_admin.post(f"{base}/restore", {})
    assert restored.status_code == 200 and not restored.json["edited"]
    assert restored.json["subject"] == one.json["subject"]
    assert w.as_admin.post(f"{base}/restore", {"now": True}).status_code == 400
    own = library.save(SYSTEM, None, clock.now(), name="Board note", audience="management", description="",
                       subject="", body="{{ title }}")
    db.session.commit()
    assert w.as_admin.post(f"/comms_templates/{own.key}/restore", {}).status_code == 409
    assert w.as_admin.call("PATCH", f"/comms_templates/{own.key}", body={"active": False}).json["active"] is False


def walk_severity_levels(w) -> None:
    listed = w.as_viewer.get("/severity_levels")
    assert [(s["name"], s["response_minutes"]) for s in listed.json["severity_levels"]] == [
        ("SEV-1", 5), ("SEV-2", 15), ("SEV-3", 60), ("SEV-4", 240)]
    w.as_viewer.get("/severity_levels", page=0)
    one = w.as_viewer.get("/severity_levels/2")
    etag = one.headers["ETag"]
    changed = w.as_admin.call("PATCH", "/severity_levels/2", body={
        "response_minutes": 10, "owner_id": w.admin.id, "next_review_on": "2026-06-01",
        "update_cadence_minutes": None}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json["response_minutes"] == 10
    assert changed.json["owner"]["name"] == "Ada Admin" and changed.json["update_cadence_minutes"] is None
    levels.forget()
    assert levels.level(2).response_minutes == 10  # what new incidents are given
    assert w.as_admin.call("PATCH", "/severity_levels/2", body={"label": "Big"},
                           headers={"If-Match": etag}).status_code == 412
    assert w.as_admin.call("PATCH", "/severity_levels/2", body={"resolution_minutes": 5}).status_code == 400
    assert w.as_admin.call("PATCH", "/severity_levels/2", body={"response_minutes": "10"}).status_code == 400
    assert w.as_admin.call("PATCH", "/severity_levels/2", body={"owner_id": 9999}).status_code == 400
    w.as_admin.call("PATCH", "/severity_levels/2", body=TOO_LARGE)
    assert w.as_responder.call("PATCH", "/severity_levels/2", body={"label": "Mine"}).status_code == 403
    assert w.as_viewer.get("/severity_levels/2").json["label"] == "Major"
