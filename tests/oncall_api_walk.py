"""The on-call part of the API walk in tests/test_api.py: every on-call route with
every status its document promises (each answer is checked against the document
by the walk's `Api` client)."""
from __future__ import annotations

from datetime import timedelta

from app import clock
from tests.oncall_factories import make_layer, make_override, make_schedule


def walk_oncall(w) -> dict[str, tuple[str, str]]:
    """Call every on-call route; returns, per path parameter, a real and a missing value."""
    now = clock.now()
    schedule = make_schedule("API primary", zone="Europe/London")
    make_layer(schedule, [w.responder, w.admin], name="Primary", start=now.date())
    make_layer(schedule, [w.admin], name="Days", unit="days", weekday=None, start=now.date(),
               restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}])
    override = make_override(schedule, w.admin, now + timedelta(days=1), now + timedelta(days=2))
    base = f"/schedules/{schedule.id}"

    # Reads.
    w.as_viewer.get("/schedules")
    w.as_viewer.get(base)
    w.as_viewer.get(f"{base}/layers")
    w.as_viewer.get(f"{base}/oncall")
    w.as_viewer.get(f"{base}/oncall", at=(now + timedelta(days=1, hours=1)).isoformat())
    w.as_viewer.get(f"{base}/oncall", at="tomorrow")
    w.as_viewer.get("/oncall")
    w.as_viewer.get("/oncall", at="2026-03-02T12:00:00")  # no zone
    w.as_viewer.get(f"{base}/shifts", start=now.isoformat(), end=(now + timedelta(days=14)).isoformat())
    w.as_viewer.get(f"{base}/shifts", start=now.isoformat(), end=(now - timedelta(days=1)).isoformat())
    w.as_viewer.get(f"{base}/overrides")
    w.as_viewer.get(f"{base}/overrides", since="last week")
    w.as_viewer.get(f"{base}/overrides/{override.id}")

    # Writes that succeed.
    made = w.as_responder.post(f"{base}/overrides", {
        "user_id": w.responder.id, "starts_at": (now + timedelta(hours=2)).isoformat(),
        "ends_at": (now + timedelta(hours=5)).isoformat(), "note": "Covering dinner"})
    assert made.status_code == 201 and made.headers["Location"] == f"/api/v1{base}/overrides/{made.json['id']}"
    assert w.as_responder.call("DELETE", f"{base}/overrides/{made.json['id']}").json["outcome"] == "deleted"

    # Bad input, refusals, conflicts.
    w.as_responder.post(f"{base}/overrides", {"user_id": w.responder.id, "starts_at": now.isoformat(),
                                              "ends_at": (now - timedelta(hours=1)).isoformat()})
    w.as_responder.post(f"{base}/overrides", {"user_id": 424242, "starts_at": "soon", "ends_at": 5})
    w.as_viewer.call("DELETE", f"{base}/overrides/{override.id}")
    w.as_reader.call("DELETE", f"{base}/overrides/{override.id}")
    clock.set(now + timedelta(days=3))
    w.as_responder.call("DELETE", f"{base}/overrides/{override.id}")  # over: part of the record
    clock.set(now)
    return {"{schedule_id}": (str(schedule.id), "9999"), "{override_id}": (str(override.id), "9999")}
