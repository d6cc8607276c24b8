"""The users part of the API walk in tests/test_api.py: people, their contact methods
and notification rules, every route with every status its document promises (each
answer checked against the document by the walk's `Api` client); who may change
whose; a new phone's code; ETag and If-Match."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from app import clock

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.extensions import db
from app.notify.models import ContactMethod, Notification
from tests.factories import make_user

TOO_LARGE = {"name": "x" * (600 * 1024)}


def _code(method_id: int) -> str:
    """The verification code last sent to a contact method, read from the outbox."""
    body = db.session.scalars(sa.select(Notification.body).where(
        Notification.contact_method_id == method_id, Notification.purpose == "verify")
        .order_by(Notification.id.desc())).first()
    return re.search(r"\b(\d{6})\b", body).group(1)


def _audits(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every users route; returns, per path parameter, a real and a missing value."""
    leaving = make_user(Role.RESPONDER, name="Lou Leaving")
    rita = w.responder

    # People: the list pages (active first, by name), one person with its ETag.
    listed = w.as_viewer.get("/users", per_page=2)
    everyone = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert listed.json["pagination"]["total"] == everyone and len(listed.json["users"]) == 2
    assert listed.json["pagination"]["links"]["next"].endswith("/api/v1/users?page=2&per_page=2")
    w.as_viewer.get("/users", per_page=500)

    made = w.as_admin.post("/users", {"email": " Uma@Example.com ", "name": "Uma   User", "phone": "+1 555 123 0077",
                                      "time_zone": "Europe/Paris", "role": "responder"})
    assert made.status_code == 201 and made.headers["Location"].endswith(f"/api/v1/users/{made.json['id']}")
    assert (made.json["email"], made.json["name"], made.json["phone"]) == ("uma@example.com", "Uma User",
                                                                           "+15551230077")
    uma = db.session.get(User, made.json["id"])
    base = f"/users/{uma.id}"
    # Her phone became an SMS and a voice method, unverified, with one code sent by SMS (as on the page).
    methods = w.as_viewer.get(f"{base}/contact_methods").json["contact_methods"]
    assert [(m["channel"], m["verified"]) for m in methods] == [("sms", False), ("voice", False)]
    sms, voice = methods[0]["id"], methods[1]["id"]
    assert _code(sms)
    assert w.as_admin.post("/users", {"email": "UMA@example.com", "name": "Another Uma"}).status_code == 409
    bad = w.as_admin.post("/users", {"email": "x@example.com", "name": " ", "role": "owner", "colour": "red"})
    assert {e.get("pointer") for e in bad.json["errors"]} == {"/name", "/role", "/colour"}

    etag = w.as_viewer.get(base).headers["ETag"]
    changed = w.as_admin.call("PATCH", base, body={"name": "Uma Usher", "role": "viewer"}, headers={"If-Match": etag})
    assert (changed.json["name"], changed.json["role"], changed.json["time_zone"]) == ("Uma Usher", "viewer",
                                                                                      "Europe/Paris")
    stale = w.as_admin.call("PATCH", base, body={"name": "Lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and w.as_viewer.get(base).json["name"] == "Uma Usher"
    assert w.as_admin.call("PATCH", base, body={"email": rita.email}).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"time_zone": 5}).json["errors"][0]["pointer"] == "/time_zone"
    assert w.as_admin.call("PATCH", base, body={"time_zone": "Mars/Olympus"}).status_code == 400
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    # A person changes their own name, phone and time zone; not their role, nor anyone else.
    mine = w.as_responder.call("PATCH", f"/users/{rita.id}", body={"time_zone": "Europe/Berlin"})
    assert mine.status_code == 200 and mine.json["time_zone"] == "Europe/Berlin"
    assert w.as_responder.call("PATCH", f"/users/{rita.id}", body={"role": "admin"}).status_code == 403
    assert w.as_responder.call("PATCH", base, body={"name": "Not mine"}).status_code == 403

    # Deactivating, never deleting: refused for yourself, stale ETags, below admin.
    assert w.as_viewer.call("DELETE", f"/users/{leaving.id}").status_code == 403
    assert w.as_admin.call("DELETE", f"/users/{w.admin.id}").status_code == 409
    assert w.as_admin.call("DELETE", base, headers={"If-Match": etag}).status_code == 412
    assert w.as_admin.call("DELETE", f"/users/{leaving.id}").status_code == 204
    gone = w.as_viewer.get(f"/users/{leaving.id}")
    assert gone.status_code == 200 and gone.json["active"] is False
    assert w.as_admin.call("DELETE", f"/users/{leaving.id}").status_code == 204  # still deactivated, once

    # Contact methods: a person adds their own, gets a code, sends it back.
    w.as_viewer.get(f"{base}/contact_methods", per_page=500)
    added = w.as_responder.post(f"/users/{rita.id}/contact_methods",
                                {"channel": "email", "address": " Rita.Pager@Example.com", "label": "pager inbox"})
    assert added.status_code == 201 and added.json["address"] == "rita.pager@example.com"
    assert not added.json["verified"] and added.headers["Location"].endswith(
        f"/users/{rita.id}/contact_methods/{added.json['id']}")
    email = f"/users/{rita.id}/contact_methods/{added.json['id']}"
    first = w.as_viewer.get(email).headers["ETag"]
    assert w.as_responder.post(f"/users/{rita.id}/contact_methods",
                               {"channel": "email", "address": "rita.pager@example.com"}).status_code == 409
    assert w.as_responder.post(f"/users/{rita.id}/contact_methods",
                               {"channel": "pigeon", "address": "loft 3"}).status_code == 400
    vouching = {"channel": "email", "address": "rita@home.example.com", "verified": True}
    assert w.as_responder.post(f"/users/{rita.id}/contact_methods", vouching).status_code == 403  # an admin's
    assert w.as_responder.post(f"{base}/contact_methods",
                               {"channel": "email", "address": "rita@home.example.com"}).status_code == 403
    # Another code, a minute after the last at the soonest (as the profile page's Resend).
    codes = f"{email}/verification_codes"
    assert w.as_responder.post(codes, {}).json["detail"].startswith("A code was just sent.")
    assert w.as_responder.post(codes, {"channel": "sms"}).status_code == 400
    assert w.as_viewer.post(codes, {}).status_code == 403
    clock.advance(timedelta(seconds=61))
    assert w.as_responder.post(codes, {}).status_code == 202
    wrong = w.as_responder.call("PATCH", email, body={"code": "nope"})
    assert wrong.status_code == 400 and wrong.json["errors"][0]["pointer"] == "/code"
    assert db.session.get(ContactMethod, added.json["id"]).code_attempts == 1  # a wrong code counts, as on the page
    verified = w.as_responder.call("PATCH", email, body={"code": _code(added.json["id"]), "label": "Pager"},
                                   headers={"If-Match": first})
    assert verified.status_code == 200 and verified.json["verified"] and verified.json["label"] == "Pager"
    assert w.as_responder.call("PATCH", email, body={"label": "Lost"}, headers={"If-Match": first}).status_code == 412
    assert w.as_responder.post(codes, {}).json["detail"] == "That contact method is already verified."
    w.as_responder.call("PATCH", email, body={"label": 5})
    w.as_responder.call("PATCH", email, body=TOO_LARGE)
    assert w.as_viewer.call("PATCH", email, body={"label": "Vic's now"}).status_code == 403
    # An admin vouches for Uma's phone: both its methods are verified, and her default rules follow.
    vouched = w.as_admin.call("PATCH", f"{base}/contact_methods/{sms}", body={"verified": True})
    assert vouched.json["verified"] and w.as_viewer.get(f"{base}/contact_methods/{voice}").json["verified"]

    # Notification rules: the defaults, then her own, the same PUT twice is one change, back to defaults.
    rules = w.as_viewer.get(f"{base}/notification_rules")
    assert rules.json["high"]["chosen"] is False
    assert [(s["channel"], s["delay_minutes"]) for s in rules.json["high"]["steps"]] == [("sms", 0), ("voice", 2)]
    wanted = {"high": [{"contact_method_id": voice, "delay_minutes": 0},
                       {"contact_method_id": sms, "delay_minutes": 1}]}
    put = w.as_admin.call("PUT", f"{base}/notification_rules", body=wanted, headers={"If-Match": rules.headers["ETag"]})
    assert put.json["high"]["chosen"] and [s["channel"] for s in put.json["high"]["steps"]] == ["voice", "sms"]
    set_before = _audits("contact.rules")
    assert w.as_admin.call("PUT", f"{base}/notification_rules", body=wanted).json == put.json
    assert _audits("contact.rules") == set_before
    assert w.as_admin.call("PUT", f"{base}/notification_rules", body={},
                           headers={"If-Match": rules.headers["ETag"]}).status_code == 412
    theirs = w.as_admin.call("PUT", f"{base}/notification_rules",
                             body={"high": [{"contact_method_id": added.json["id"]}]})
    assert theirs.status_code == 400 and theirs.json["errors"][0]["pointer"] == "/high"
    w.as_admin.call("PUT", f"{base}/notification_rules", body={"high": []})
    w.as_admin.call("PUT", f"{base}/notification_rules", body=TOO_LARGE)
    assert w.as_responder.call("PUT", f"{base}/notification_rules", body={}).status_code == 403
    defaults = w.as_admin.call("PUT", f"{base}/notification_rules", body={"high": None})
    assert defaults.json == rules.json

    # Removing: not another's, not with a stale ETag; then gone.
    assert w.as_viewer.call("DELETE", email).status_code == 403
    assert w.as_responder.call("DELETE", email, headers={"If-Match": first}).status_code == 412
    assert w.as_responder.call("DELETE", email).status_code == 204
    assert w.as_viewer.get(email).status_code == 404
    return {"{user_id}": (str(uma.id), "9999"), "{method_id}": (str(sms), "9999")}
