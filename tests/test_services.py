"""Services and integration keys."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.services import service as services
from tests.factories import SYSTEM, actor, login, make_service, make_team, make_user


@pytest.mark.db
def test_a_new_service_gets_a_32_character_integration_key(app):
    team = make_team("Payments")
    service = make_service("checkout-api", team=team)
    assert service.team.name == "Payments"
    [key] = service.active_keys
    assert re.fullmatch(r"[0-9a-f]{32}", key.key)
    assert services.service_for_key(key.key) == (service, key)


@pytest.mark.db
def test_default_severity_mapping_follows_the_design(app):
    service = make_service()
    assert [service.severity_for(s) for s in ("critical", "error", "warning", "info")] == [2, 3, 4, None]


def test_severity_mapping_is_validated(app):
    with pytest.raises(DomainError, match="1 to 4"):
        services.clean_severity_mapping({"critical": 7})
    with pytest.raises(DomainError, match="Unknown event severity"):
        services.clean_severity_mapping({"catastrophic": 1})
    assert services.clean_severity_mapping({"critical": "1", "info": "none"}) == {
        "critical": 1, "error": 3, "warning": 4, "info": None}


@pytest.mark.db
def test_revoked_keys_and_inactive_services_route_nowhere(app):
    admin = make_user(Role.ADMIN)
    service = make_service()
    [key] = service.active_keys
    second = services.add_integration_key(actor(admin), service, name="Alertmanager")
    services.revoke_integration_key(actor(admin), key)
    db.session.commit()
    assert services.service_for_key(key.key) is None
    assert services.service_for_key(second.key) == (service, second)
    services.update_service(actor(admin), service, name=service.name, description="", team_id=None,
                            severity_mapping=None, active=False)
    db.session.commit()
    assert services.service_for_key(second.key) is None
    assert services.service_for_key("short") is None
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "services")).all()
    assert {"service.create", "service.add_key", "service.revoke_key", "service.update"} <= set(actions)


def test_names_are_unique_and_only_admins_configure(app):
    make_service("checkout-api")
    with pytest.raises(Conflict):
        make_service("Checkout-API")
    db.session.rollback()
    with pytest.raises(Forbidden):
        services.create_service(actor(make_user(Role.RESPONDER)), name="other")


def test_a_given_key_must_have_the_right_shape(app):
    service = make_service()
    with pytest.raises(DomainError, match="32 letters"):
        services.add_integration_key(actor(make_user(Role.ADMIN)), service, key="too-short")


def test_admin_creates_a_service_through_the_form(app, client):
    team = make_team("Platform")
    login(client, make_user(Role.ADMIN))
    answer = client.post("/services/new", data={"name": "api-gateway", "description": "The edge",
                                                "team_id": str(team.id), "sev_critical": "1", "sev_error": "3",
                                                "sev_warning": "4", "sev_info": "none", "active": "y"})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"])
    assert b"api-gateway" in page.data and b"SEV-1" in page.data
    assert re.search(rb"<code>[0-9a-f]{32}</code>", page.data)


def test_a_bad_service_form_keeps_what_was_typed(app, client):
    make_service("taken")
    login(client, make_user(Role.ADMIN))
    answer = client.post("/services/new", data={"name": "taken", "description": "kept text",
                                                "team_id": "", "sev_critical": "2", "sev_error": "3",
                                                "sev_warning": "4", "sev_info": "none"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "A service with that name exists." in html and "kept text" in html
    assert 'aria-invalid="true"' in html


def test_viewers_see_only_the_start_of_integration_keys(app, client):
    service = make_service()
    key = service.active_keys[0].key
    login(client, make_user(Role.VIEWER))
    page = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert key not in page and key[:6] in page


def test_service_settings_change_how_alerts_become_incidents(app, client):
    service = make_service("checkout-api")
    login(client, make_user(Role.ADMIN))
    answer = client.post(f"/services/{service.id}/edit", data={
        "name": "checkout-api", "team_id": "", "sev_critical": "1", "sev_error": "3", "sev_warning": "4",
        "sev_info": "none", "alert_grouping": "grouped", "resolve_with_alerts": "", "ack_timeout_minutes": "",
        "auto_resolve_minutes": "240", "active": "y"})
    assert answer.status_code == 303
    db.session.expire_all()
    assert (service.alert_grouping, service.resolve_with_alerts, service.ack_timeout_minutes,
            service.auto_resolve_minutes) == ("grouped", False, None, 240)
    bad = client.post(f"/services/{service.id}/edit", data={
        "name": "checkout-api", "sev_critical": "1", "sev_error": "3", "sev_warning": "4", "sev_info": "none",
        "alert_grouping": "sometimes", "auto_resolve_minutes": "-5"})
    assert bad.status_code == 400
    with pytest.raises(DomainError, match="Between 1 and"):
        services.clean_settings({"ack_timeout_minutes": 999_999})
    with pytest.raises(DomainError, match="Unknown service setting"):
        services.clean_settings({"page_everyone": True})


def test_heartbeats_are_managed_on_the_service_page(app, client):
    from app.alerts.models import Heartbeat
    service = make_service("backups")
    login(client, make_user(Role.ADMIN))
    answer = client.post(f"/services/{service.id}/heartbeats", data={"name": "nightly-backup", "interval_minutes": "1440",
                                                                     "grace_minutes": "30"})
    assert answer.status_code == 303
    heartbeat = db.session.scalar(sa.select(Heartbeat))
    assert (heartbeat.interval_seconds, heartbeat.grace_seconds) == (86400, 1800)
    page = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert f"/heartbeats/{heartbeat.token}" in page and "nightly-backup" in page
    assert client.post(f"/heartbeats/{heartbeat.token}").status_code == 200
    client.post(f"/services/{service.id}/heartbeats/{heartbeat.id}/remove")
    assert client.post(f"/heartbeats/{heartbeat.token}").status_code == 404
    refused = client.post(f"/services/{service.id}/heartbeats", data={"name": "", "interval_minutes": "0"})
    assert refused.status_code == 400


def test_maintenance_is_scheduled_and_ended_from_its_page(app, client):
    from datetime import UTC, datetime

    from app import clock
    from app.services.models import MaintenanceState, MaintenanceWindow
    clock.set(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    user = make_user(Role.RESPONDER, time_zone="UTC")
    team = make_team("Payments")
    people.add_member(SYSTEM, team, user, is_manager=True)  # maintenance is its services' teams' managers'
    service = make_service("payments-db", team=team)
    login(client, user)
    answer = client.post("/maintenance/new", data={"title": "Postgres 16 upgrade", "service_ids": [str(service.id)],
                                                   "starts_at": "2026-11-27T11:30", "ends_at": "2026-11-27T14:00"})
    assert answer.status_code == 303
    window = db.session.scalar(sa.select(MaintenanceWindow))
    assert window.state == MaintenanceState.IN_PROGRESS  # it began already
    assert "Postgres 16 upgrade" in client.get("/maintenance/").get_data(as_text=True)
    client.post(f"/maintenance/{window.id}/end")
    db.session.expire_all()
    assert window.state == MaintenanceState.COMPLETED and window.ends_at == clock.now()
    bad = client.post("/maintenance/new", data={"title": "Backwards", "service_ids": [str(service.id)],
                                                "starts_at": "2026-11-27T15:00", "ends_at": "2026-11-27T14:00"})
    assert bad.status_code == 400 and "end after it starts" in bad.get_data(as_text=True)
