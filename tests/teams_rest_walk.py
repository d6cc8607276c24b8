"""The teams part of the API walk in tests/test_api.py: every teams route with every
status its document promises (each answer is checked against the document by the
walk's `Api` client), and what ETag, If-Match and the Link header do."""
from __future__ import annotations

from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from tests.factories import SYSTEM, make_service, make_team, make_user

TOO_LARGE = {"description": "x" * (600 * 1024)}


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every teams route; returns, per path parameter, a real and a missing value."""
    search = make_team("Search", members=[w.responder])
    make_team("Storage")
    newcomer = make_user(Role.RESPONDER, name="Nia Newcomer")
    viewer_only = make_user(Role.VIEWER, name="Val Viewer")
    base = f"/teams/{search.id}"

    # Reads: the list pages with links, one team with its ETag.
    everyone = sorted(t["name"] for t in w.as_viewer.get("/teams", per_page=100).json["teams"])
    listed = w.as_viewer.get("/teams", per_page=2)
    assert [t["name"] for t in listed.json["teams"]] == everyone[:2]  # by name, whatever other walks made
    assert listed.json["pagination"]["links"]["next"].endswith("/api/v1/teams?page=2&per_page=2")
    assert 'rel="next"' in listed.headers["Link"] and listed.json["pagination"]["links"]["prev"] is None
    w.as_viewer.get("/teams", per_page=500)
    one = w.as_viewer.get(base)
    etag = one.headers["ETag"]

    # Writes that succeed, and an If-Match that still holds.
    made = w.as_admin.post("/teams", {"name": "  Data   platform ", "description": "Pipelines"})
    assert made.status_code == 201 and made.json["name"] == "Data platform"
    assert made.headers["Location"].endswith(f"/api/v1/teams/{made.json['id']}")
    changed = w.as_admin.call("PATCH", base, body={"description": "Search and ranking"}, headers={"If-Match": etag})
    assert changed.json["description"] == "Search and ranking" and changed.json["name"] == "Search"
    assert changed.headers["ETag"] != etag
    added = w.as_admin.call("PUT", f"{base}/members/{newcomer.id}", body={"is_manager": True})
    assert {m["name"]: m["is_manager"] for m in added.json["members"]} == {"Rita Responder": False,
                                                                          "Nia Newcomer": True}
    again = w.as_admin.call("PUT", f"{base}/members/{newcomer.id}", body={"is_manager": True})
    assert again.json == added.json  # the same request twice is one change
    assert w.as_admin.call("DELETE", f"{base}/members/{w.responder.id}").status_code == 204
    assert w.as_admin.call("DELETE", f"/teams/{made.json['id']}").status_code == 204

    # Refusals: a stale If-Match changes nothing; bad bodies; conflicts.
    stale = w.as_admin.call("PATCH", base, body={"name": "Lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and w.as_viewer.get(base).json["name"] == "Search"
    w.as_admin.call("DELETE", f"{base}/members/{newcomer.id}", headers={"If-Match": etag})
    w.as_admin.call("PUT", f"{base}/members/{newcomer.id}", body={"is_manager": False}, headers={"If-Match": etag})
    w.as_admin.call("DELETE", base, headers={"If-Match": etag})
    bad = w.as_admin.call("PATCH", base, body={"name": " ", "colour": "red"})
    assert {e.get("pointer") for e in bad.json["errors"]} == {"/name", "/colour"}
    w.as_admin.post("/teams", {"name": "search"})  # taken, whatever the letter case
    w.as_admin.post("/teams", {"name": 42})
    w.as_admin.call("PATCH", base, body={"name": "Storage"})
    w.as_admin.call("PUT", f"{base}/members/{viewer_only.id}", body={"is_manager": "yes"})
    w.as_admin.call("PUT", f"{base}/members/{viewer_only.id}", body={"is_manager": True})  # a viewer manages nothing
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    w.as_admin.call("PUT", f"{base}/members/{newcomer.id}", body=TOO_LARGE)
    make_service("ranking-api", team=search)
    owner = w.as_admin.call("DELETE", base)
    assert owner.status_code == 409 and "1 services" in owner.json["detail"]
    w.as_admin.call("DELETE", f"{base}/members/{viewer_only.id}")  # not a member: 404

    # A manager of the team may change its members, not the team.
    people.set_manager(SYSTEM, w.team, w.responder, True)
    db.session.commit()
    as_manager = w.as_responder  # Rita manages Payments
    assert as_manager.call("PUT", f"/teams/{w.team.id}/members/{newcomer.id}", body={}).status_code == 200
    assert as_manager.call("PATCH", f"/teams/{w.team.id}", body={"name": "Mine now"}).status_code == 403
    assert as_manager.call("PUT", f"{base}/members/{w.responder.id}", body={}).status_code == 403
    assert as_manager.call("DELETE", f"{base}/members/{newcomer.id}").status_code == 403
    assert as_manager.call("DELETE", base).status_code == 403
    return {"{team_id}": (str(search.id), "9999"), "{user_id}": (str(newcomer.id), "9999")}
