"""Pages as a whole and as htmx fragments; errors in the house style; forms that keep input."""
from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.factories import login, make_service, make_team, make_user


@pytest.fixture
def admin_client(client):
    login(client, make_user(Role.ADMIN, name="Avery Admin"))
    return client


def test_a_page_is_whole_without_htmx_and_a_fragment_with_it(admin_client):
    make_user(name="Dana Okafor")
    make_user(name="Lee Tanaka")
    full = admin_client.get("/people?q=dana")
    assert full.status_code == 200
    assert b"<html" in full.data and b"Dana Okafor" in full.data and b"Lee Tanaka" not in full.data
    assert "HX-Request" in full.headers["Vary"]
    part = admin_client.get("/people?q=dana", headers={"HX-Request": "true"})
    assert part.status_code == 200 and b"<html" not in part.data and b"<nav" not in part.data
    assert b"Dana Okafor" in part.data and b"<table>" in part.data
    assert "HX-Request" in part.headers["Vary"]


def test_history_restore_gets_the_whole_page(admin_client):
    answer = admin_client.get("/people", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in answer.data


def test_navigation_shows_what_the_role_may_use(client):
    login(client, make_user(Role.VIEWER))
    html = client.get("/").get_data(as_text=True)
    assert 'href="/services/"' in html and 'href="/people"' in html
    assert "/admin/audit/" not in html


def test_navigation_marks_the_current_section(admin_client):
    html = admin_client.get("/services/").get_data(as_text=True)
    assert '<a href="/services/" aria-current="page">Services</a>' in html


def test_missing_pages_are_404_in_the_house_style(admin_client):
    answer = admin_client.get("/services/999")
    assert answer.status_code == 404
    assert b"No such service." in answer.data and b"<nav" in answer.data


def test_api_errors_are_json(client):
    answer = client.get("/api/v1/nothing-here")
    assert answer.status_code == 404 and answer.is_json and answer.json["error"]


def test_wrong_method_is_405_with_allow(admin_client):
    answer = admin_client.delete("/services/")
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]


def test_oversized_bodies_are_refused_with_413(admin_client):
    answer = admin_client.post("/teams/new", data={"name": "x" * (600 * 1024)})
    assert answer.status_code == 413
    assert b"larger than Firebreak accepts" in answer.data


def test_server_errors_are_a_page_not_a_traceback(app, admin_client):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["TESTING"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internals")

    from app.web import requires
    requires(Role.VIEWER)(boom)
    answer = admin_client.get("/boom-for-test")
    assert answer.status_code == 500
    assert b"Something broke on our side" in answer.data and b"secret internals" not in answer.data


def test_person_form_keeps_input_and_shows_errors_beside_fields(admin_client):
    answer = admin_client.post("/people/new", data={"name": "Sam Keller", "email": "sam@example.com",
                                                    "phone": "555-0100", "time_zone": "UTC", "role": "responder"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert 'value="Sam Keller"' in html and 'value="555-0100"' in html
    assert "international form" in html and 'aria-invalid="true"' in html


def test_admin_adds_a_person_and_a_team_member(admin_client):
    team = make_team("Payments")
    answer = admin_client.post("/people/new", data={"name": "Priya Raman", "email": "priya@example.com",
                                                    "phone": "+447700900003", "time_zone": "Europe/London",
                                                    "role": "responder", "active": "y", "password": "long enough pw"})
    assert answer.status_code == 303
    person_url = answer.headers["Location"]
    user_id = int(person_url.rsplit("/", 1)[1])
    assert b"+447700900003" in admin_client.get(person_url).data
    added = admin_client.post(f"/teams/{team.id}/members", data={"user_id": str(user_id)})
    assert added.status_code == 303
    assert b"Priya Raman" in admin_client.get(f"/teams/{team.id}").data


def test_profile_edits_and_token_shown_once(client):
    user = make_user(Role.VIEWER, name="Morgan Blake")
    login(client, user)
    saved = client.post("/profile", data={"name": "Morgan B.", "phone": "+15551230011", "time_zone": "America/Denver"})
    assert saved.status_code == 303
    made = client.post("/profile/tokens", data={"name": "my script", "scope": "read"})
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    assert "Copy it now" in html and "fbk_" in html
    again = client.get("/profile").get_data(as_text=True)
    assert "my script" in again and "Copy it now" not in again


def test_audit_log_is_filterable(admin_client):
    make_service("checkout-api")
    make_team("Payments")
    everything = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "Created service checkout-api" in everything and "Created team Payments" in everything
    only_services = admin_client.get("/admin/audit/?object_type=services").get_data(as_text=True)
    assert "Created service checkout-api" in only_services and "Created team Payments" not in only_services
    fragment = admin_client.get("/admin/audit/?q=Payments", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Created team Payments" in fragment and "<html" not in fragment


def test_times_are_shown_in_the_viewers_zone(app, client):
    from datetime import UTC, datetime

    from app.extensions import db
    user = make_user(time_zone="Asia/Tokyo")
    user.last_signin_at = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)
    db.session.commit()
    login(client, user)
    html = client.get(f"/people/{user.id}").get_data(as_text=True)
    assert '<time datetime="2026-11-27T03:12:00+00:00"' in html and "2026-11-27 12:12 JST" in html
